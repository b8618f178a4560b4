//! Capture files: pcap and pcapng, plain (memory-mapped) or compressed
//! (gzip, zstd; streamed through a bounded window).
//!
//! The format and the compression are told from the first bytes, never from
//! the file name. Both readers drive the same record parser (the private
//! `format` module), so a plain file and its compressed copy give the same
//! frames and the same errors; only the meaning of an error's offset differs
//! (bytes of the file, or bytes of the decompressed stream, which the
//! message says).
//!
//! What is read:
//! - pcap (draft-ietf-opsawg-pcap): both byte orders, micro- and nanosecond
//!   timestamps, the link type of the file header. A record longer than
//!   [`MAX_CAPLEN`], or than a small header snap length allows (with 64 KiB of
//!   slack for writers that record a wrong one), is corrupt.
//! - pcapng (draft-ietf-opsawg-pcapng): several sections, each in its own
//!   byte order with its own interfaces (link type, snap length, `if_tsresol`
//!   in powers of 10 or 2, `if_tsoffset`); Enhanced, Simple and the obsolete
//!   Packet Blocks. Other blocks are skipped. [`Frame::interface`] is the
//!   index of the packet's interface within its section. A Simple Packet
//!   Block has no timestamp: it gets the time of the section's previous packet
//!   (0 if none), so the capture clock does not jump.
//!
//! A record that ends early is [`CorruptKind::Truncated`] at the offset where
//! the record starts; frames before it were returned.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use memmap2::Mmap;

use crate::capture::format::{Container, Parser, Step};
use crate::capture::{CaptureError, CorruptKind, Frame, LinkType, PacketSource, Timestamp};

pub use crate::capture::format::{MAX_BLOCK_LEN, MAX_CAPLEN, MAX_INTERFACES};

/// The decompression window starts this large and grows, when a record
/// needs it, up to [`MAX_BLOCK_LEN`].
const WINDOW_INITIAL: usize = 128 * 1024;
/// Bytes needed to tell the format.
const MAGIC_LEN: usize = 4;
/// Every magic number we know, to tell a cut header from garbage.
const KNOWN_MAGICS: [[u8; 4]; 7] = [
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x4d, 0x3c, 0xb2, 0xa1],
    [0x0a, 0x0d, 0x0d, 0x0a],
    [0x1f, 0x8b, 0x08, 0x00],
    [0x28, 0xb5, 0x2f, 0xfd],
];

/// An opened capture file.
pub enum CaptureFile {
    /// An uncompressed file, mapped into memory: frames borrow the mapping
    /// and stay valid as long as the `MappedCapture` lives.
    Mapped(MappedCapture),
    /// A compressed file, decompressed as it is read: frames borrow the
    /// reader's window and are valid until the next read.
    Streamed(StreamedCapture),
}

impl CaptureFile {
    pub fn path(&self) -> &Path {
        match self {
            CaptureFile::Mapped(m) => &m.path,
            CaptureFile::Streamed(s) => &s.path,
        }
    }
}

/// Open a capture file, telling its format and compression from its first
/// bytes (not its name).
pub fn open(path: &Path) -> Result<CaptureFile, CaptureError> {
    let open_err = |source| CaptureError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(open_err)?;
    let mut head = [0u8; MAGIC_LEN];
    let got = read_up_to(&mut file, &mut head).map_err(|source| CaptureError::Io {
        path: path.to_path_buf(),
        offset: 0,
        source,
    })?;
    let head = head.get(..got).unwrap_or(&[]);
    match Container::sniff(head) {
        Container::Plain => MappedCapture::open(path, &file).map(CaptureFile::Mapped),
        container => {
            file.seek(SeekFrom::Start(0)).map_err(open_err)?;
            let input: Box<dyn Read + Send> = match container {
                Container::Zstd => {
                    Box::new(zstd::stream::read::Decoder::new(file).map_err(open_err)?)
                }
                _ => Box::new(MultiGzDecoder::new(BufReader::new(file))),
            };
            StreamedCapture::with_reader(path.to_path_buf(), input, true).map(CaptureFile::Streamed)
        }
    }
}

/// Read until `buf` is full or the input ends; the count read.
fn read_up_to(input: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while let Some(rest) = buf.get_mut(got..).filter(|r| !r.is_empty()) {
        match input.read(rest) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// The parser for a capture whose first bytes are `head`, or the error that
/// says why there is none.
fn sniff(path: &Path, head: &[u8], decompressed: bool) -> Result<Parser, CaptureError> {
    let corrupt = |what| {
        if decompressed {
            CaptureError::corrupt_decompressed(path, 0, what)
        } else {
            CaptureError::corrupt(path, 0, what)
        }
    };
    if head.is_empty() {
        return Err(corrupt(CorruptKind::Empty));
    }
    let mut magic = [0u8; MAGIC_LEN];
    for (m, b) in magic.iter_mut().zip(head) {
        *m = *b;
    }
    if head.len() < MAGIC_LEN && KNOWN_MAGICS.iter().any(|k| k.starts_with(head)) {
        return Err(corrupt(CorruptKind::Truncated {
            needed: MAGIC_LEN as u64,
            available: head.len() as u64,
        }));
    }
    Parser::sniff(magic).ok_or_else(|| CaptureError::UnknownFormat {
        path: path.to_path_buf(),
        magic,
    })
}

/// A plain capture file mapped into memory.
pub struct MappedCapture {
    path: PathBuf,
    map: Mmap,
    /// The parser as it starts, cloned for each reader.
    parser: Parser,
}

impl MappedCapture {
    fn open(path: &Path, file: &File) -> Result<MappedCapture, CaptureError> {
        let io_err = |source| CaptureError::Io {
            path: path.to_path_buf(),
            offset: 0,
            source,
        };
        let len = file.metadata().map_err(io_err)?.len();
        if len == 0 {
            // Mapping an empty file fails on some systems; say what it is.
            return Err(CaptureError::corrupt(path, 0, CorruptKind::Empty));
        }
        // SAFETY: the mapping is read-only and private to this process. If
        // another process truncates the file while we read it, accesses past
        // the new end raise SIGBUS: the usual caveat of mapped reading,
        // accepted for capture files that are no longer being written.
        let map = unsafe { Mmap::map(file) }.map_err(io_err)?;
        // Frames are read once, front to back: let the kernel read ahead
        // aggressively. Only a hint, so a refusal changes nothing.
        #[cfg(unix)]
        let _ = map.advise(memmap2::Advice::Sequential);
        let parser = sniff(path, map.get(..MAGIC_LEN).unwrap_or(&map), false)?;
        Ok(MappedCapture {
            path: path.to_path_buf(),
            map,
            parser,
        })
    }

    /// A reader over the mapping; frames borrow `self`, not the reader.
    pub fn reader(&self) -> MappedReader<'_> {
        MappedReader {
            inner: SliceReader::with_parser(&self.path, &self.map, self.parser.clone()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole file, as mapped.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }
}

/// Reads the frames of a [`MappedCapture`].
pub struct MappedReader<'m> {
    inner: SliceReader<'m>,
}

impl<'m> MappedReader<'m> {
    /// The next frame, `Ok(None)` at the end of the file. After an error,
    /// `Ok(None)`.
    #[inline]
    pub fn next_frame(&mut self) -> Result<Option<Frame<'m>>, CaptureError> {
        self.inner.next_frame()
    }

    /// Byte offset of the next record.
    pub fn offset(&self) -> u64 {
        self.inner.offset()
    }
}

/// A mapped reader is a source like any other (frames then borrow the
/// reader; use [`MappedReader::next_frame`] directly to keep the longer
/// borrow of the mapping).
impl PacketSource for MappedReader<'_> {
    #[inline]
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        MappedReader::next_frame(self)
    }

    fn name(&self) -> &str {
        self.inner.path.to_str().unwrap_or("capture file")
    }
}

/// Reads a capture held in memory (a mapping, a test array, fuzzer input).
pub struct SliceReader<'a> {
    path: &'a Path,
    data: &'a [u8],
    parser: Parser,
    pos: usize,
    done: bool,
    /// Offset up to which cache lines have been prefetched.
    prefetched: usize,
}

/// How far ahead of the record being read the reader asks for cache lines.
/// A record is read once, front to back, by the reader and the decoder, and
/// the first load of each record header was the single most expensive
/// instruction of a run (a cache miss per frame: the hardware prefetcher
/// gives up at page boundaries and on the jumps over payloads). A few
/// kilobytes is a handful of frames: far enough to hide the memory latency,
/// near enough that the lines are still cached when the reader gets there.
const PREFETCH_AHEAD: usize = 4096;
const CACHE_LINE: usize = 64;

/// Ask the CPU to start loading the cache line at `at` (a hint: it never
/// faults and changes no result).
#[inline(always)]
fn prefetch_line(data: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(byte) = data.get(at) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: SSE is part of the x86_64 baseline, and a prefetch neither
        // reads into a register nor faults: the pointer (in bounds here
        // anyway) is only a hint. Newer compilers declare the intrinsic
        // safe, hence the allow.
        #[allow(unused_unsafe)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(byte).cast::<i8>())
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, at);
}

impl<'a> SliceReader<'a> {
    /// A reader over the uncompressed capture `data`; `path` names it in
    /// errors.
    pub fn new(path: &'a Path, data: &'a [u8]) -> Result<SliceReader<'a>, CaptureError> {
        let parser = sniff(path, data.get(..MAGIC_LEN).unwrap_or(data), false)?;
        Ok(SliceReader::with_parser(path, data, parser))
    }

    fn with_parser(path: &'a Path, data: &'a [u8], parser: Parser) -> SliceReader<'a> {
        SliceReader {
            path,
            data,
            parser,
            pos: 0,
            done: false,
            prefetched: 0,
        }
    }

    /// Prefetch the lines up to [`PREFETCH_AHEAD`] bytes past `pos` that
    /// have not been asked for yet (about five per frame of a few hundred
    /// bytes).
    #[inline(always)]
    fn prefetch_ahead(&mut self) {
        let target = self.pos.saturating_add(PREFETCH_AHEAD).min(self.data.len());
        // After a jump (a large record) start at the current window.
        let mut at = self.prefetched.max(self.pos);
        while at < target {
            prefetch_line(self.data, at);
            at += CACHE_LINE;
        }
        self.prefetched = at;
    }

    /// Byte offset of the next record.
    pub fn offset(&self) -> u64 {
        self.pos as u64
    }

    /// The next frame, `Ok(None)` at the end of the data. After an error,
    /// `Ok(None)`.
    #[inline]
    pub fn next_frame(&mut self) -> Result<Option<Frame<'a>>, CaptureError> {
        loop {
            let rest = match self.data.get(self.pos..) {
                Some(rest) if !rest.is_empty() && !self.done => rest,
                _ => return Ok(None),
            };
            match self.parser.parse(rest) {
                Ok(Step::Packet {
                    frame, record_len, ..
                }) => {
                    self.pos += record_len;
                    self.prefetch_ahead();
                    return Ok(Some(frame));
                }
                Ok(Step::Skip { len }) => {
                    match usize::try_from(len).ok().filter(|&l| l <= rest.len()) {
                        Some(l) => self.pos += l,
                        None => return Err(self.fail(truncated(len, rest.len()))),
                    }
                }
                Ok(Step::NeedMore { needed }) => {
                    return Err(self.fail(truncated(needed, rest.len())))
                }
                Err(what) => return Err(self.fail(what)),
            }
        }
    }

    #[cold]
    fn fail(&mut self, what: CorruptKind) -> CaptureError {
        self.done = true;
        CaptureError::corrupt(self.path, self.pos as u64, what)
    }
}

fn truncated(needed: u64, available: usize) -> CorruptKind {
    CorruptKind::Truncated {
        needed,
        available: available as u64,
    }
}

/// A capture read from a stream (a decompressor), frame by frame through a
/// window that holds at least the current record.
pub struct StreamedCapture {
    path: PathBuf,
    name: String,
    input: Box<dyn Read + Send>,
    /// Offsets in errors count decompressed bytes.
    decompressed: bool,
    parser: Parser,
    /// `window[start..end]` holds stream bytes from offset `base` on.
    window: Vec<u8>,
    start: usize,
    end: usize,
    base: u64,
    eof: bool,
    done: bool,
}

/// A frame's fields with its data as a window range, so that the window can
/// be refilled while the frame is located.
struct Located {
    ts: Timestamp,
    link: LinkType,
    orig_len: u32,
    interface: u32,
    data_at: usize,
    data_len: usize,
    record_len: usize,
}

impl StreamedCapture {
    /// A capture read from `input` (already decompressed); `decompressed`
    /// says whether error offsets are in a decompressed stream.
    pub fn with_reader(
        path: PathBuf,
        input: Box<dyn Read + Send>,
        decompressed: bool,
    ) -> Result<StreamedCapture, CaptureError> {
        let mut s = StreamedCapture {
            name: path.display().to_string(),
            path,
            input,
            decompressed,
            parser: Parser::PcapHeader,
            window: vec![0; WINDOW_INITIAL],
            start: 0,
            end: 0,
            base: 0,
            eof: false,
            done: false,
        };
        s.fill(MAGIC_LEN)?;
        let head = s.window.get(..s.end).unwrap_or(&[]);
        s.parser = sniff(&s.path, head, decompressed)?;
        Ok(s)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&mut self, offset: u64, what: CorruptKind) -> CaptureError {
        self.done = true;
        if self.decompressed {
            CaptureError::corrupt_decompressed(&self.path, offset, what)
        } else {
            CaptureError::corrupt(&self.path, offset, what)
        }
    }

    fn available(&self) -> usize {
        self.end - self.start
    }

    /// Read until the window holds `needed` bytes from `start`, or the input
    /// ends. `needed` is at most [`MAX_BLOCK_LEN`] (the parser's bound).
    fn fill(&mut self, needed: usize) -> Result<(), CaptureError> {
        let needed = needed.min(MAX_BLOCK_LEN as usize);
        if self.window.len() - self.start < needed {
            // Move the partial record to the front; grow only if it still
            // does not fit.
            self.window.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.window.len() < needed {
                self.window
                    .resize(needed.next_power_of_two().min(MAX_BLOCK_LEN as usize), 0);
            }
        }
        while self.available() < needed && !self.eof {
            let Some(space) = self.window.get_mut(self.end..) else {
                break;
            };
            match self.input.read(space) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.read_error(e)),
            }
        }
        Ok(())
    }

    #[cold]
    fn read_error(&mut self, e: std::io::Error) -> CaptureError {
        let offset = self.base + self.available() as u64;
        match e.kind() {
            ErrorKind::InvalidData | ErrorKind::InvalidInput | ErrorKind::UnexpectedEof
                if self.decompressed =>
            {
                self.error(offset, CorruptKind::Decompression)
            }
            _ => {
                self.done = true;
                CaptureError::Io {
                    path: self.path.clone(),
                    offset,
                    source: e,
                }
            }
        }
    }

    /// Skip a record of `len` bytes at `start`, reading past the window if
    /// it is longer (a large pcapng block we do not buffer).
    fn skip(&mut self, len: u64) -> Result<(), CaptureError> {
        let avail = self.available();
        if let Some(l) = usize::try_from(len).ok().filter(|&l| l <= avail) {
            self.start += l;
            self.base += len;
            return Ok(());
        }
        let record = self.base;
        let mut left = len - avail as u64;
        self.start = 0;
        self.end = 0;
        while left > 0 {
            let chunk = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(self.window.len());
            let Some(space) = self.window.get_mut(..chunk) else {
                break;
            };
            match self.input.read(space) {
                Ok(0) => {
                    let available = len - left;
                    return Err(self.error(
                        record,
                        CorruptKind::Truncated {
                            needed: len,
                            available,
                        },
                    ));
                }
                Ok(n) => left -= n as u64,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.read_error(e)),
            }
        }
        self.base += len;
        Ok(())
    }

    /// Find the next packet record at `start`, reading and skipping as
    /// needed; `None` at the end of the stream.
    fn locate(&mut self) -> Result<Option<Located>, CaptureError> {
        loop {
            let avail = self.window.get(self.start..self.end).unwrap_or(&[]);
            if avail.is_empty() {
                if self.eof {
                    return Ok(None);
                }
                self.fill(1)?;
                continue;
            }
            let have = avail.len();
            match self.parser.parse(avail) {
                Ok(Step::Packet {
                    frame,
                    data_at,
                    record_len,
                }) => {
                    return Ok(Some(Located {
                        ts: frame.ts,
                        link: frame.link,
                        orig_len: frame.orig_len,
                        interface: frame.interface,
                        data_at,
                        data_len: frame.data.len(),
                        record_len,
                    }))
                }
                Ok(Step::Skip { len }) => self.skip(len)?,
                Ok(Step::NeedMore { needed }) => {
                    let want = usize::try_from(needed).unwrap_or(usize::MAX);
                    if self.eof || want <= have {
                        // Nothing more to read, or a parser that asks for
                        // bytes it has: stop rather than loop.
                        return Err(self.error(self.base, truncated(needed, have)));
                    }
                    self.fill(want)?;
                }
                Err(what) => return Err(self.error(self.base, what)),
            }
        }
    }
}

impl PacketSource for StreamedCapture {
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        if self.done {
            return Ok(None);
        }
        let Some(rec) = self.locate()? else {
            return Ok(None);
        };
        let record_start = self.start;
        self.start += rec.record_len;
        self.base += rec.record_len as u64;
        let from = record_start + rec.data_at;
        let data = self.window.get(from..from + rec.data_len).unwrap_or(&[]);
        Ok(Some(Frame {
            ts: rec.ts,
            link: rec.link,
            orig_len: rec.orig_len,
            interface: rec.interface,
            data,
        }))
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    //! Ground truth: tshark's `frame.time_epoch`, `frame.len`,
    //! `frame.cap_len` and `frame.interface_id`, stored in
    //! tests/data/capture/*.tshark.tsv by make_expected.sh (see the README
    //! there). Offsets of pcap records follow from the pcap format: a 24-byte
    //! file header, then 16 bytes of header plus cap_len per record.
    use super::*;
    use std::io::Write;

    #[derive(Debug, PartialEq, Eq, Clone)]
    struct Row {
        ts: Option<i64>,
        len: u32,
        caplen: usize,
        iface: u32,
    }

    fn manifest() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    fn data(name: &str) -> PathBuf {
        manifest().join("tests/data/capture").join(name)
    }

    fn corpus(rel: &str) -> Option<PathBuf> {
        let p = manifest().join("../shared/corpus").join(rel);
        if p.exists() {
            Some(p)
        } else {
            eprintln!("skipping: corpus file {} is absent", p.display());
            None
        }
    }

    /// "1349367980.467968000" -> nanoseconds.
    fn epoch_ns(s: &str) -> Option<i64> {
        let (secs, frac) = s.split_once('.')?;
        let frac = format!("{frac:0<9}");
        Some(secs.parse::<i64>().ok()? * 1_000_000_000 + frac.get(..9)?.parse::<i64>().ok()?)
    }

    fn expected(name: &str) -> Vec<Row> {
        let text = std::fs::read_to_string(data(name)).unwrap();
        text.lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                Row {
                    ts: epoch_ns(f[1]),
                    len: f[2].parse().unwrap(),
                    caplen: f[3].parse().unwrap(),
                    iface: f.get(4).and_then(|s| s.parse().ok()).unwrap_or(0),
                }
            })
            .collect()
    }

    fn row(f: &Frame<'_>) -> Row {
        Row {
            ts: Some(f.ts.nanos()),
            len: f.orig_len,
            caplen: f.data.len(),
            iface: f.interface,
        }
    }

    type Frames = Vec<(Row, LinkType, Vec<u8>)>;

    /// Every frame of a file (with its link type and data), and the error
    /// that ended it.
    fn read_all(path: &Path) -> (Frames, Option<CaptureError>) {
        let mut out = Vec::new();
        let push = |out: &mut Vec<_>, f: &Frame<'_>| out.push((row(f), f.link, f.data.to_vec()));
        match open(path) {
            Err(e) => (out, Some(e)),
            Ok(CaptureFile::Mapped(m)) => {
                let mut r = m.reader();
                loop {
                    match r.next_frame() {
                        Ok(Some(f)) => push(&mut out, &f),
                        Ok(None) => return (out, None),
                        Err(e) => return (out, Some(e)),
                    }
                }
            }
            Ok(CaptureFile::Streamed(mut s)) => loop {
                match s.next_frame() {
                    Ok(Some(f)) => push(&mut out, &f),
                    Ok(None) => return (out, None),
                    Err(e) => return (out, Some(e)),
                }
            },
        }
    }

    fn rows(path: &Path) -> Vec<Row> {
        let (frames, err) = read_all(path);
        assert!(err.is_none(), "{}: {err:?}", path.display());
        frames.into_iter().map(|(r, _, _)| r).collect()
    }

    fn temp(name: &str, bytes: &[u8]) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("gatewatch-capture-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn zstd_of(bytes: &[u8]) -> Vec<u8> {
        zstd::stream::encode_all(bytes, 3).unwrap()
    }

    const TFO: &str = "tcpdump/tests/tfo-5c1fa7f9ae91.pcap";

    #[test]
    fn pcap_little_endian_micro_matches_tshark() {
        let Some(p) = corpus(TFO) else { return };
        assert_eq!(rows(&p), expected("tfo-5c1fa7f9ae91.tshark.tsv"));
        let (frames, _) = read_all(&p);
        assert!(frames.iter().all(|(_, l, _)| *l == LinkType::Ethernet));
    }

    #[test]
    fn pcap_null_link_and_large_snaplen_match_tshark() {
        let Some(p) = corpus("tcpdump/tests/quic_handshake.pcap") else {
            return;
        };
        assert_eq!(rows(&p), expected("quic_handshake.tshark.tsv"));
        let (frames, _) = read_all(&p);
        assert!(frames.iter().all(|(_, l, _)| *l == LinkType::Null));
    }

    #[test]
    fn pcap_big_endian_and_nanosecond_match_tshark() {
        for name in ["tfo_be_micro", "tfo_be_nano", "tfo_le_nano"] {
            let got = rows(&data(&format!("{name}.pcap")));
            assert_eq!(got, expected(&format!("{name}.tshark.tsv")), "{name}");
        }
    }

    #[test]
    fn pcapng_three_interfaces_mixed_resolution_match_tshark() {
        let Some(p) = corpus("ndpi/pcap/anydesk.pcapng") else {
            return;
        };
        let want = expected("anydesk.tshark.tsv");
        assert_eq!(want.len(), 174);
        assert_eq!(rows(&p), want);
    }

    #[test]
    fn pcapng_sections_byte_orders_spb_opb_tsresol_tsoffset_match_tshark() {
        let path = data("multi_section.pcapng");
        let (frames, err) = read_all(&path);
        assert!(err.is_none(), "{err:?}");
        let mut want = expected("multi_section.tshark.tsv");
        // The SPB (7th packet) has no timestamp in tshark; ours is the
        // previous packet's.
        assert_eq!(want[6].ts, None);
        want[6].ts = want[5].ts;
        let got: Vec<Row> = frames.iter().map(|(r, _, _)| r.clone()).collect();
        assert_eq!(got, want);
        // tshark's encapsulation: 1 (Ethernet) on interface 0, 7 (raw IP,
        // LINKTYPE_RAW 101) on interface 1, Ethernet in the second section.
        let links: Vec<LinkType> = frames.iter().map(|(_, l, _)| *l).collect();
        let raw = LinkType::Raw;
        let eth = LinkType::Ethernet;
        assert_eq!(&links[..8], &[eth, raw, eth, raw, eth, raw, eth, raw]);
        assert!(links[8..].iter().all(|l| *l == eth));
    }

    #[test]
    fn real_gzip_capture_matches_tshark() {
        let Some(p) = corpus("zeek/traces/ssh/kex-quadratic-1000.pcap.gz") else {
            return;
        };
        assert!(matches!(open(&p), Ok(CaptureFile::Streamed(_))));
        assert_eq!(rows(&p), expected("kex-quadratic-1000.tshark.tsv"));
    }

    #[test]
    fn gzip_and_zstd_copies_give_identical_frames() {
        for rel in [
            TFO,
            "ndpi/pcap/anydesk.pcapng",
            "foxio-ja4/pcap/ssh2.pcapng",
        ] {
            let Some(p) = corpus(rel) else { return };
            let plain = std::fs::read(&p).unwrap();
            let (want, err) = read_all(&p);
            assert!(err.is_none());
            let base = p.file_name().unwrap().to_string_lossy().to_string();
            for (suffix, bytes) in [("gz", gzip(&plain)), ("zst", zstd_of(&plain))] {
                // A misleading name: the format comes from the bytes.
                let t = temp(&format!("{base}.{suffix}.pcap"), &bytes);
                assert!(matches!(open(&t), Ok(CaptureFile::Streamed(_))));
                let (got, err) = read_all(&t);
                assert!(err.is_none(), "{rel} {suffix}: {err:?}");
                assert_eq!(got, want, "{rel} {suffix}");
            }
        }
    }

    /// Start offsets of the pcap records, from tshark's cap_len.
    fn pcap_offsets(rows: &[Row]) -> Vec<u64> {
        let mut off = 24u64;
        rows.iter()
            .map(|r| {
                let at = off;
                off += 16 + r.caplen as u64;
                at
            })
            .collect()
    }

    #[test]
    fn truncated_pcap_stops_at_the_cut_record() {
        let Some(p) = corpus(TFO) else { return };
        let bytes = std::fs::read(&p).unwrap();
        let want = expected("tfo-5c1fa7f9ae91.tshark.tsv");
        let offs = pcap_offsets(&want);
        let rec = 10;
        // Cut inside the record header, then inside the record data.
        for (into, needed) in [(7u64, 16u64), (20, 16 + want[rec].caplen as u64)] {
            let cut = (offs[rec] + into) as usize;
            for (suffix, file, decompressed) in [
                ("pcap", bytes[..cut].to_vec(), false),
                ("pcap.gz", gzip(&bytes[..cut]), true),
                ("pcap.zst", zstd_of(&bytes[..cut]), true),
            ] {
                let t = temp(&format!("cut{into}.{suffix}"), &file);
                let (frames, err) = read_all(&t);
                assert_eq!(frames.len(), rec, "{suffix}");
                match err {
                    Some(CaptureError::Corrupt {
                        offset,
                        what,
                        decompressed: d,
                        ..
                    }) => {
                        assert_eq!(offset, offs[rec], "{suffix}");
                        assert_eq!(
                            what,
                            CorruptKind::Truncated {
                                needed,
                                available: into
                            }
                        );
                        assert_eq!(d, decompressed);
                    }
                    other => panic!("{suffix}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn truncated_pcapng_returns_frames_before_the_cut() {
        let Some(p) = corpus("ndpi/pcap/anydesk.pcapng") else {
            return;
        };
        let bytes = std::fs::read(&p).unwrap();
        let cut = bytes.len() - 50;
        let t = temp("anydesk-cut.pcapng", &bytes[..cut]);
        let (frames, err) = read_all(&t);
        // The last block is an EPB of tshark's last frame (66 bytes + 32 of
        // block overhead), so only it is lost.
        assert_eq!(frames.len(), 173);
        match err {
            Some(CaptureError::Corrupt {
                offset,
                what: CorruptKind::Truncated { needed, available },
                ..
            }) => {
                assert_eq!(offset + available, cut as u64);
                assert!(needed > available);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cut_gzip_stream_is_an_error_not_a_hang() {
        let Some(p) = corpus(TFO) else { return };
        let z = gzip(&std::fs::read(&p).unwrap());
        let t = temp("cut-stream.pcap.gz", &z[..z.len() / 2]);
        let (frames, err) = read_all(&t);
        assert!(frames.len() < 14);
        assert!(
            matches!(
                err,
                Some(CaptureError::Corrupt {
                    decompressed: true,
                    ..
                })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn implausible_record_length_is_refused_without_allocating() {
        let Some(p) = corpus(TFO) else { return };
        let mut bytes = std::fs::read(&p).unwrap();
        let offs = pcap_offsets(&expected("tfo-5c1fa7f9ae91.tshark.tsv"));
        let at = offs[3] as usize + 8; // incl_len, little-endian
        bytes[at..at + 4].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        for (suffix, file) in [("pcap", bytes.clone()), ("pcap.gz", gzip(&bytes))] {
            let (frames, err) = read_all(&temp(&format!("huge.{suffix}"), &file));
            assert_eq!(frames.len(), 3);
            match err {
                Some(CaptureError::Corrupt { offset, what, .. }) => {
                    assert_eq!(offset, offs[3]);
                    assert_eq!(what, CorruptKind::ImplausibleLength { len: 0x7fff_ffff });
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn pcapng_trailing_length_mismatch_is_corrupt() {
        let path = data("multi_section.pcapng");
        let mut bytes = std::fs::read(&path).unwrap();
        // The SHB is big-endian; its length is at 4..8 and repeated at its end.
        let len = u32::from_be_bytes(bytes[4..8].try_into().unwrap()) as usize;
        bytes[len - 1] ^= 0x40;
        let (frames, err) = read_all(&temp("mismatch.pcapng", &bytes));
        assert!(frames.is_empty());
        match err {
            Some(CaptureError::Corrupt {
                offset: 0,
                what: CorruptKind::BlockLengthMismatch { leading, trailing },
                ..
            }) => assert_eq!((leading as usize, trailing as usize), (len, len ^ 0x40)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_empty_and_short_files() {
        let g = temp("garbage.pcap", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(
            matches!(open(&g), Err(CaptureError::UnknownFormat { magic, .. }) if &magic == b"GET ")
        );
        let e = temp("empty.pcap", b"");
        assert!(matches!(
            open(&e),
            Err(CaptureError::Corrupt {
                what: CorruptKind::Empty,
                ..
            })
        ));
        let gz_empty = temp("empty.pcap.gz", &gzip(b""));
        assert!(matches!(
            open(&gz_empty),
            Err(CaptureError::Corrupt {
                what: CorruptKind::Empty,
                decompressed: true,
                ..
            })
        ));
        let two = temp("two.pcap", &[0xd4, 0xc3]);
        assert!(matches!(
            open(&two),
            Err(CaptureError::Corrupt {
                what: CorruptKind::Truncated {
                    needed: 4,
                    available: 2
                },
                ..
            })
        ));
        // A pcap header cut after 10 bytes: the header needs 24.
        let Some(p) = corpus(TFO) else { return };
        let head = std::fs::read(&p).unwrap()[..10].to_vec();
        let (frames, err) = read_all(&temp("head.pcap", &head));
        assert!(frames.is_empty());
        assert!(matches!(
            err,
            Some(CaptureError::Corrupt {
                offset: 0,
                what: CorruptKind::Truncated {
                    needed: 24,
                    available: 10
                },
                ..
            })
        ));
        let msg = err.unwrap().to_string();
        assert!(
            msg.contains("head.pcap") && msg.contains("byte offset 0"),
            "{msg}"
        );
    }

    #[test]
    fn streamed_window_grows_for_a_large_record() {
        // A pcap (draft-ietf-opsawg-pcap §4, §5) holding one 200 000-byte
        // record between two small ones, compressed.
        let mut f = Vec::new();
        f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        f.extend_from_slice(&2u16.to_le_bytes());
        f.extend_from_slice(&4u16.to_le_bytes());
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&262_144u32.to_le_bytes());
        f.extend_from_slice(&1u32.to_le_bytes());
        for (i, n) in [60usize, 200_000, 60].into_iter().enumerate() {
            for v in [1_700_000_000u32 + i as u32, 5, n as u32, n as u32] {
                f.extend_from_slice(&v.to_le_bytes());
            }
            f.extend((0..n).map(|j| (j % 251) as u8));
        }
        let (frames, err) = read_all(&temp("big.pcap.zst", &zstd_of(&f)));
        assert!(err.is_none(), "{err:?}");
        let lens: Vec<usize> = frames.iter().map(|(r, _, _)| r.caplen).collect();
        assert_eq!(lens, [60, 200_000, 60]);
        assert_eq!(frames[1].2[250..252], [250, 0]);
        assert_eq!(frames[2].0.ts, Some(1_700_000_002_000_005_000));
    }

    #[test]
    fn slice_reader_reads_in_memory_captures() {
        let path = data("tfo_be_nano.pcap");
        let bytes = std::fs::read(&path).unwrap();
        let mut r = SliceReader::new(&path, &bytes).unwrap();
        let mut n = 0;
        while let Some(f) = r.next_frame().unwrap() {
            assert_eq!(f.link, LinkType::Ethernet);
            n += 1;
        }
        assert_eq!(n, 14);
        assert_eq!(r.offset(), bytes.len() as u64);
    }
}
