//! Merges the workers' event streams into one ordered stream.

use std::collections::VecDeque;
use std::io::{self, Write};

use crate::detect::Detector;
use crate::pipeline::{DetectItem, KeyedEvent};

/// Where event lines go: anything that takes bytes (stdout, a file, a
/// buffer in tests). Output sinks of the service plug in here too.
pub trait EventSink: Write {}
impl<W: Write> EventSink for W {}

/// Releases events in key order once every worker has passed their key.
///
/// Each worker's events arrive in non-decreasing key order, with a
/// watermark: the sequence number up to which that worker has processed
/// everything it will ever be given. An event whose sequence number is at
/// or below every worker's watermark can no longer be preceded by anything,
/// so it is written.
pub struct OrderedWriter<'a> {
    sink: &'a mut (dyn EventSink + Send),
    queues: Vec<VecDeque<KeyedEvent>>,
    watermarks: Vec<u64>,
    written: u64,
    /// Judges sessions as they are written (none: sessions are written
    /// without findings).
    detector: Option<Detector>,
    /// Reused buffer for a session's and its alert's lines.
    scratch: Vec<u8>,
}

impl<'a> OrderedWriter<'a> {
    pub fn new(workers: usize, sink: &'a mut (dyn EventSink + Send)) -> OrderedWriter<'a> {
        OrderedWriter {
            sink,
            queues: (0..workers).map(|_| VecDeque::new()).collect(),
            watermarks: vec![0; workers],
            written: 0,
            detector: None,
            scratch: Vec::new(),
        }
    }

    /// Judge the sessions written from now on with this detector.
    pub fn set_detector(&mut self, detector: Option<Detector>) {
        self.detector = detector;
    }

    pub fn detector(&self) -> Option<&Detector> {
        self.detector.as_ref()
    }

    pub fn detector_mut(&mut self) -> Option<&mut Detector> {
        self.detector.as_mut()
    }

    /// Queue events of one worker (in that worker's key order).
    pub fn push_all(
        &mut self,
        worker: usize,
        events: impl Iterator<Item = KeyedEvent>,
    ) -> io::Result<()> {
        if let Some(q) = self.queues.get_mut(worker) {
            q.extend(events);
        }
        Ok(())
    }

    /// Record a worker's progress and write what became final.
    pub fn watermark(&mut self, worker: usize, seq: u64) -> io::Result<()> {
        if let Some(w) = self.watermarks.get_mut(worker) {
            *w = (*w).max(seq);
        }
        self.release()
    }

    fn release(&mut self) -> io::Result<()> {
        let low = self.watermarks.iter().copied().min().unwrap_or(0);
        loop {
            // The smallest head among the queues, if it is final.
            let mut best: Option<usize> = None;
            for (i, q) in self.queues.iter().enumerate() {
                if let Some(head) = q.front() {
                    if head.key.seq > low {
                        continue;
                    }
                    match best {
                        Some(b) if self.queues[b].front().map(|e| e.key) <= Some(head.key) => {}
                        _ => best = Some(i),
                    }
                }
            }
            let Some(i) = best else { return Ok(()) };
            if let Some(ev) = self.queues[i].pop_front() {
                self.sink.write_all(&ev.line)?;
                if let Some(item) = ev.detect {
                    self.write_detected(*item)?;
                }
                self.written += 1;
            }
        }
    }

    /// A session (judged by the detector) and what follows it, or a host
    /// name for the detector to learn.
    fn write_detected(&mut self, item: DetectItem) -> io::Result<()> {
        match item {
            DetectItem::Session {
                facts,
                parts,
                after,
            } => {
                let verdict = self.detector.as_mut().map(|d| d.on_session(&facts));
                self.scratch.clear();
                crate::output::alert_json::write_session_and_alert(
                    &mut self.scratch,
                    &parts,
                    verdict.as_ref(),
                );
                self.sink.write_all(&self.scratch)?;
                self.sink.write_all(&after)
            }
            DetectItem::Host(h) => {
                if let Some(d) = self.detector.as_mut() {
                    d.on_host(&h);
                }
                Ok(())
            }
        }
    }

    /// Write bytes outside the ordering (the final stats event).
    pub fn write_raw(&mut self, line: &[u8]) -> io::Result<()> {
        self.sink.write_all(line)
    }

    /// Events written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.sink.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::EventKey;

    fn ev(seq: u64, tiebreak: u64) -> KeyedEvent {
        KeyedEvent {
            key: EventKey {
                seq,
                phase: 1,
                tiebreak,
            },
            line: format!("{seq}.{tiebreak}\n").into_bytes(),
            detect: None,
        }
    }

    #[test]
    fn merges_in_key_order_only_below_every_watermark() {
        let mut out: Vec<u8> = Vec::new();
        {
            let mut w = OrderedWriter::new(2, &mut out);
            w.push_all(0, [ev(1, 0), ev(5, 0)].into_iter()).unwrap();
            w.watermark(0, 5).unwrap();
            // Worker 1 has not reported: nothing may be written yet.
            assert_eq!(w.written(), 0);
            w.push_all(1, [ev(3, 0), ev(5, 1)].into_iter()).unwrap();
            w.watermark(1, 4).unwrap();
            // Final: everything at or below seq 4.
            assert_eq!(w.written(), 2);
            w.watermark(1, 9).unwrap();
            w.watermark(0, 9).unwrap();
            assert_eq!(w.written(), 4);
        }
        assert_eq!(String::from_utf8(out).unwrap(), "1.0\n3.0\n5.0\n5.1\n");
    }
}
