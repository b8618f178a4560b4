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

/// Reads a capture held in memory (a mapping, a test array, fuzzer input).
pub struct SliceReader<'a> {
    path: &'a Path,
    data: &'a [u8],
    parser: Parser,
    pos: usize,
    done: bool,
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
        }
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
