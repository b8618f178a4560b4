//! A bounded on-disk spool of HTTP batches, replayed in order.
//!
//! One file per batch in the spool directory, named `<seq>-<events>.ndjson`
//! (20-digit zero-padded sequence, so name order is delivery order). Files
//! are written to a `.tmp` name and renamed, so a crash never leaves half a
//! batch under a real name; on start the directory is scanned and replay
//! resumes where it stopped. Batches normally go to the back; batches that
//! were waiting in memory go to the front (lower sequence numbers), so the
//! order events were sent in is the order they are delivered in.
//!
//! Limits: `max_bytes` (a batch that does not fit is refused and its events
//! counted as dropped) and `max_age` (older batches are deleted: retention of
//! stored personal data, counted as expired).

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Where appended sequence numbers start, leaving room below for batches
/// put back at the front.
const FIRST_SEQ: u64 = 1 << 40;
const SUFFIX: &str = ".ndjson";

#[derive(Debug, Clone)]
struct Entry {
    seq: u64,
    events: u64,
    bytes: u64,
}

/// The spool directory and what is in it.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    max_age: Option<Duration>,
    entries: VecDeque<Entry>,
    bytes: u64,
}

impl Spool {
    /// Open (create) `dir` and index the batches already there.
    pub fn open(dir: &Path, max_bytes: u64, max_age: Option<Duration>) -> io::Result<Spool> {
        std::fs::create_dir_all(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        let mut entries = Vec::new();
        for de in std::fs::read_dir(dir)? {
            let de = de?;
            let name = de.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(tmp) = name.strip_suffix(".tmp") {
                // A write cut short by a crash.
                let _ = std::fs::remove_file(dir.join(format!("{tmp}.tmp")));
                continue;
            }
            let Some((seq, events)) = parse_name(name) else {
                continue;
            };
            entries.push(Entry {
                seq,
                events,
                bytes: de.metadata()?.len(),
            });
        }
        entries.sort_by_key(|e| e.seq);
        let bytes = entries.iter().map(|e| e.bytes).sum();
        Ok(Spool {
            dir: dir.to_owned(),
            max_bytes,
            max_age,
            entries: entries.into(),
            bytes,
        })
    }

    fn path(&self, seq: u64, events: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}-{events}{SUFFIX}"))
    }

    fn write(&mut self, seq: u64, body: &[u8], events: u64) -> io::Result<Entry> {
        let path = self.path(seq, events);
        let mut tmp = path.clone().into_os_string();
        tmp.push(".tmp");
        std::fs::write(&tmp, body)?;
        std::fs::rename(&tmp, &path)?;
        let bytes = u64::try_from(body.len()).unwrap_or(u64::MAX);
        self.bytes = self.bytes.saturating_add(bytes);
        Ok(Entry { seq, events, bytes })
    }

    /// Whether a body of `len` bytes fits under the size limit.
    pub fn fits(&self, len: usize) -> bool {
        self.bytes
            .saturating_add(u64::try_from(len).unwrap_or(u64::MAX))
            <= self.max_bytes
    }

    /// Append a batch; `Ok(false)` if it does not fit (the caller drops it).
    pub fn push_back(&mut self, body: &[u8], events: u64) -> io::Result<bool> {
        if !self.fits(body.len()) {
            return Ok(false);
        }
        let seq = self
            .entries
            .back()
            .map_or(FIRST_SEQ, |e| e.seq.saturating_add(1));
        let e = self.write(seq, body, events)?;
        self.entries.push_back(e);
        Ok(true)
    }

    /// Put a batch before all others; `Ok(false)` if it does not fit.
    pub fn push_front(&mut self, body: &[u8], events: u64) -> io::Result<bool> {
        if !self.fits(body.len()) {
            return Ok(false);
        }
        let seq = self
            .entries
            .front()
            .map_or(FIRST_SEQ, |e| e.seq.saturating_sub(1));
        let e = self.write(seq, body, events)?;
        self.entries.push_front(e);
        Ok(true)
    }

    /// The oldest batch: its body and event count.
    pub fn front(&self) -> Option<io::Result<(Vec<u8>, u64)>> {
        let e = self.entries.front()?;
        Some(std::fs::read(self.path(e.seq, e.events)).map(|b| (b, e.events)))
    }

    /// Delete the oldest batch (delivered, or unreadable).
    pub fn pop_front(&mut self) {
        if let Some(e) = self.entries.pop_front() {
            let _ = std::fs::remove_file(self.path(e.seq, e.events));
            self.bytes = self.bytes.saturating_sub(e.bytes);
        }
    }

    /// Delete batches older than the age limit; the events deleted.
    pub fn expire(&mut self) -> u64 {
        let Some(max_age) = self.max_age else {
            return 0;
        };
        let now = SystemTime::now();
        let mut expired = 0;
        let old: Vec<Entry> = self
            .entries
            .iter()
            .filter(|e| {
                std::fs::metadata(self.path(e.seq, e.events))
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| now.duration_since(t).ok())
                    .is_some_and(|age| age > max_age)
            })
            .cloned()
            .collect();
        for e in old {
            let _ = std::fs::remove_file(self.path(e.seq, e.events));
            self.bytes = self.bytes.saturating_sub(e.bytes);
            self.entries.retain(|x| x.seq != e.seq);
            expired += e.events;
        }
        expired
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Events waiting.
    pub fn events(&self) -> u64 {
        self.entries.iter().map(|e| e.events).sum()
    }
}

/// `00000000001099511627776-12.ndjson` -> (seq, events).
fn parse_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(SUFFIX)?;
    let (seq, events) = stem.split_once('-')?;
    Some((seq.parse().ok()?, events.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gw-spool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn order_limits_and_restart() {
        let d = dir("order");
        let mut s = Spool::open(&d, 30, None).expect("open");
        assert!(s.push_back(b"b\n", 1).expect("w"));
        assert!(s.push_back(b"c\n", 1).expect("w"));
        assert!(s.push_front(b"a\n", 1).expect("w"));
        assert!(!s.push_back(&[b'x'; 25], 9).expect("w"), "over the limit");
        assert_eq!((s.bytes(), s.events()), (6, 3));
        // A restart finds the same batches in the same order.
        let mut s = Spool::open(&d, 30, None).expect("reopen");
        let mut got = Vec::new();
        while let Some(b) = s.front() {
            got.extend(b.expect("read").0);
            s.pop_front();
        }
        assert_eq!(got, b"a\nb\nc\n");
        assert_eq!(s.bytes(), 0);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn expire_deletes_old_batches() {
        let d = dir("expire");
        let mut s = Spool::open(&d, 1000, Some(Duration::from_millis(50))).expect("open");
        assert!(s.push_back(b"old\n", 4).expect("w"));
        std::thread::sleep(Duration::from_millis(120));
        assert!(s.push_back(b"new\n", 2).expect("w"));
        assert_eq!(s.expire(), 4);
        assert_eq!(s.events(), 2);
        let _ = std::fs::remove_dir_all(&d);
    }
}
