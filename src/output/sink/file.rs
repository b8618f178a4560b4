//! JSON lines to a file (and to stdout).
//!
//! Rotation by size (`rotate_bytes`: before a line would take the file past
//! it) and by age (`rotate_secs`), logrotate-style numbering: `eve.json` is
//! renamed `eve.json.1`, the old `.1` becomes `.2`, and so on up to
//! `rotate_keep`; older files are deleted (retention). [`FileSink::reopen`]
//! closes and reopens the path, which is what logrotate's default
//! "move, then SIGHUP" (its `postrotate` script) needs: until the reopen,
//! lines keep going to the moved file, after it to a new file at the path.
//!
//! Writes are plain blocking `std::fs` calls through a 64 KiB buffer, made on
//! the output runtime's worker threads; the buffer is flushed whenever the
//! queue is empty, so lines reach the file within a tick.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::{ticker, Counters, SinkConfig, SinkCx};

/// Rotated files kept when `rotate_keep` is not set.
pub const DEFAULT_ROTATE_KEEP: u32 = 10;
const BUFFER: usize = 64 * 1024;

/// An open JSON-lines file with its rotation policy.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    size: u64,
    opened: Instant,
    rotate_bytes: Option<u64>,
    rotate_after: Option<Duration>,
    keep: u32,
    rotations: u64,
}

impl FileSink {
    /// Open (create, append) the configured path.
    pub fn open(cfg: &SinkConfig) -> io::Result<FileSink> {
        let path = cfg
            .path
            .clone()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path: missing"))?;
        let mut s = FileSink {
            path,
            out: None,
            size: 0,
            opened: Instant::now(),
            rotate_bytes: cfg.rotate_bytes,
            rotate_after: cfg.rotate_secs.map(Duration::from_secs),
            keep: cfg.rotate_keep.unwrap_or(DEFAULT_ROTATE_KEEP),
            rotations: 0,
        };
        s.open_path()?;
        Ok(s)
    }

    fn open_path(&mut self) -> io::Result<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))?;
        self.size = f.metadata()?.len();
        self.opened = Instant::now();
        self.out = Some(BufWriter::with_capacity(BUFFER, f));
        Ok(())
    }

    /// Append one line (a newline is added).
    pub fn write_line(&mut self, rec: &[u8]) -> io::Result<()> {
        let len = u64::try_from(rec.len())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        if let Some(max) = self.rotate_bytes {
            if self.size > 0 && self.size.saturating_add(len) > max {
                self.rotate()?;
            }
        }
        if self.out.is_none() {
            self.open_path()?;
        }
        let Some(out) = self.out.as_mut() else {
            return Err(io::Error::other("file not open"));
        };
        out.write_all(rec)?;
        out.write_all(b"\n")?;
        self.size = self.size.saturating_add(len);
        Ok(())
    }

    /// Flush the buffer to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        match self.out.as_mut() {
            Some(o) => o.flush(),
            None => Ok(()),
        }
    }

    /// Close and reopen the path (after an external rename).
    pub fn reopen(&mut self) -> io::Result<()> {
        let flushed = self.flush();
        self.out = None;
        self.open_path()?;
        flushed
    }

    /// Whether the file is old enough to rotate by time.
    pub fn due_by_time(&self) -> bool {
        self.size > 0
            && self
                .rotate_after
                .is_some_and(|d| self.opened.elapsed() >= d)
    }

    /// Shift `path.N` up by one, move `path` to `path.1`, reopen `path`.
    pub fn rotate(&mut self) -> io::Result<()> {
        self.flush()?;
        self.out = None;
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            let _ = std::fs::remove_file(numbered(&self.path, self.keep));
            for n in (1..self.keep).rev() {
                let from = numbered(&self.path, n);
                if from.exists() {
                    std::fs::rename(&from, numbered(&self.path, n + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(&self.path, 1))?;
        }
        self.rotations += 1;
        self.open_path()
    }

    /// Rotations done since the sink was opened.
    pub fn rotations(&self) -> u64 {
        self.rotations
    }
}

/// `eve.json` -> `eve.json.N`.
pub fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// The file sink's task.
pub async fn run(mut sink: FileSink, cx: SinkCx, mut rx: mpsc::Receiver<Vec<u8>>) {
    let mut tick = ticker();
    let c = &cx.counters;
    loop {
        tokio::select! {
            // Reopen first: lines sent after `Router::reopen` returned go to
            // the new file.
            biased;
            _ = cx.reopen.notified() => {
                if let Err(e) = sink.reopen() { c.error(format_args!("reopen: {e}")); }
            }
            m = rx.recv() => {
                let Some(line) = m else { break };
                if let Some(rec) = cx.render(&line) {
                    match sink.write_line(&rec) {
                        Ok(()) => { c.sent.fetch_add(1, Ordering::Relaxed); }
                        Err(e) => {
                            c.failed.fetch_add(1, Ordering::Relaxed);
                            c.error(format_args!("write: {e}"));
                        }
                    }
                }
                if rx.is_empty() {
                    flush(&mut sink, c);
                }
            }
            _ = tick.tick() => {
                if sink.due_by_time() {
                    if let Err(e) = sink.rotate() {
                        c.error(format_args!("rotate: {e}"));
                    }
                }
                flush(&mut sink, c);
            }
        }
    }
    flush(&mut sink, c);
}

fn flush(sink: &mut FileSink, c: &Counters) {
    c.rotations.store(sink.rotations(), Ordering::Relaxed);
    if let Err(e) = sink.flush() {
        c.error(format_args!("flush: {e}"));
    }
}

/// The stdout sink's task.
pub async fn run_stdout(cx: SinkCx, mut rx: mpsc::Receiver<Vec<u8>>) {
    let mut out = tokio::io::BufWriter::new(tokio::io::stdout());
    let c = &cx.counters;
    while let Some(line) = rx.recv().await {
        let Some(mut rec) = cx.render(&line) else {
            continue;
        };
        rec.push(b'\n');
        match out.write_all(&rec).await {
            Ok(()) => {
                c.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                c.failed.fetch_add(1, Ordering::Relaxed);
                c.error(format_args!("stdout: {e}"));
            }
        }
        if rx.is_empty() {
            let _ = out.flush().await;
        }
    }
    let _ = out.flush().await;
}
