//! Capture files: pcap and pcapng, plain (memory-mapped) or compressed
//! (gzip, zstd; streamed through a bounded window).

use std::path::{Path, PathBuf};

use crate::capture::{CaptureError, Frame, PacketSource};

/// An opened capture file.
pub enum CaptureFile {
    /// An uncompressed file, mapped into memory: frames borrow the mapping
    /// and stay valid as long as the `MappedCapture` lives.
    Mapped(MappedCapture),
    /// A compressed file, decompressed as it is read: frames borrow the
    /// reader's window and are valid until the next read.
    Streamed(StreamedCapture),
}

/// Open a capture file, telling its format and compression from its first
/// bytes (not its name).
pub fn open(path: &Path) -> Result<CaptureFile, CaptureError> {
    Err(CaptureError::Open {
        path: path.to_path_buf(),
        source: std::io::Error::other("not implemented yet"),
    })
}

pub struct MappedCapture {
    path: PathBuf,
}

impl MappedCapture {
    /// A reader over the mapping; frames borrow `self`, not the reader.
    pub fn reader(&self) -> MappedReader<'_> {
        MappedReader { capture: self }
    }
}

pub struct MappedReader<'m> {
    capture: &'m MappedCapture,
}

impl<'m> MappedReader<'m> {
    pub fn next_frame(&mut self) -> Result<Option<Frame<'m>>, CaptureError> {
        let _ = &self.capture.path;
        Ok(None)
    }
}

pub struct StreamedCapture {
    path: String,
}

impl PacketSource for StreamedCapture {
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        Ok(None)
    }
    fn name(&self) -> &str {
        &self.path
    }
}
