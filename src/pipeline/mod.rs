//! The analysis pipeline: sources -> workers -> one ordered event stream.
//!
//! With one worker everything runs on the calling thread, frame by frame,
//! borrowing each frame from its source. With more, a dispatcher (the calling
//! thread) reads frames, finds each one's innermost address pair and sends it
//! to the worker that owns that pair (a symmetric hash, so both directions
//! and every fragment of a flow land on the same worker). Frames of
//! memory-mapped files cross threads by reference; frames of streamed
//! sources are copied into reused batch buffers.
//!
//! Determinism: the dispatcher numbers every frame and every clock tick with
//! one run-wide sequence. Each event carries the sequence number of the step
//! that produced it, and the writer merges the workers' streams in key order
//! under per-worker watermarks. The output is therefore the same for any
//! number of workers, as long as no worker runs into its share of the flow
//! table's capacity (eviction is per worker).

mod engine;
pub mod service;
mod writer;

use std::net::IpAddr;
use std::path::PathBuf;

use crossbeam_channel::{bounded, Receiver, Sender};

pub use engine::Engine;
pub use writer::{EventSink, OrderedWriter};

use crate::capture::file::{open as open_file, CaptureFile, MappedCapture};
use crate::capture::{CaptureError, Frame, LinkType, PacketSource, SourceStats, Timestamp};
use crate::decode::{self, DecodeConfig, DecodeCounters};
use crate::flow::table::{FlowConfig, FlowTableStats};
use crate::site::SiteNetworks;

/// Frames per batch sent to a worker.
const BATCH_FRAMES: usize = 512;
/// Batches in flight per worker (bounds memory and latency).
const BATCHES_IN_FLIGHT: usize = 8;

/// Everything the pipeline needs to know.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub decode: DecodeConfig,
    pub flow: FlowConfig,
    pub site: SiteNetworks,
    /// Worker threads (1 = everything on the calling thread).
    pub workers: usize,
    /// Capture-time interval between clock ticks (timeouts are checked on
    /// ticks), nanoseconds.
    pub tick_ns: u64,
    /// GeoIP databases and site lists for the far end of each flow.
    pub enrich: Option<std::sync::Arc<crate::enrich::SharedSources>>,
    /// Addresses each worker's enrichment cache holds.
    pub enrich_cache: usize,
    /// Run the protocol dissectors (`proto`). Off, flows carry no
    /// application fields and no session or anomaly events are written
    /// (benchmarks compare the two).
    pub dissect: bool,
    /// The remote-access catalogue (the embedded one unless a site adds
    /// entries).
    pub catalogue: std::sync::Arc<crate::catalogue::Catalogue>,
    /// Addresses each worker's DNS name cache holds (0: no `remote_names`).
    /// Every worker learns every DNS response, so this is not divided.
    pub dns_cache: usize,
    /// The detection policy; `None`: sessions are written without findings
    /// and no alerts (`--no-detect`).
    pub detect: Option<crate::detect::DetectConfig>,
}

impl PipelineConfig {
    /// The run's detector (one per run, behind the ordered writer).
    pub fn detector(&self) -> Option<crate::detect::Detector> {
        self.detect.clone().map(crate::detect::Detector::new)
    }
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            decode: DecodeConfig::default(),
            flow: FlowConfig::default(),
            site: SiteNetworks::default(),
            workers: 1,
            tick_ns: 1_000_000_000,
            enrich: None,
            enrich_cache: 65_536,
            dissect: true,
            catalogue: crate::catalogue::Catalogue::shared_embedded(),
            dns_cache: 65_536,
            detect: None,
        }
    }
}

/// The order key of an event: see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventKey {
    pub seq: u64,
    pub phase: u8,
    pub tiebreak: u64,
}

/// One serialised event line with its order key.
#[derive(Debug)]
pub struct KeyedEvent {
    pub key: EventKey,
    pub line: Vec<u8>,
    /// What the detector must see when this event is written (sessions and
    /// DHCP host names); `None` for most flows.
    pub detect: Option<Box<DetectItem>>,
}

/// The detection part of an event, judged by the one detector behind the
/// ordered writer (so in capture order, whatever the worker count).
#[derive(Debug)]
pub enum DetectItem {
    /// A remote-access session: its facts, its `session` event cut around
    /// the event type, and the lines that follow it (anomalies).
    Session {
        facts: Box<crate::detect::SessionFacts>,
        parts: crate::output::alert_json::SessionParts,
        after: Vec<u8>,
    },
    /// A DHCP exchange that named a site host.
    Host(crate::detect::HostFacts),
}

/// Totals of a run, for the `stats` event.
#[derive(Debug, Clone, Default)]
pub struct RunStats {
    pub capture: SourceStats,
    pub decode: DecodeCounters,
    pub flows: FlowTableStats,
    pub events: u64,
    /// Capture time of the first and last frame.
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    /// Present when enrichment was on.
    pub enrichment: Option<EnrichmentStats>,
    /// The sensor's name (service mode).
    pub sensor: Option<String>,
    /// Present when detection was on.
    pub detect: Option<crate::detect::DetectStats>,
}

/// The enrichment side of a run, for the `stats` event.
#[derive(Debug, Clone, Default)]
pub struct EnrichmentStats {
    pub databases: Vec<crate::enrich::geoip::DatabaseSummary>,
    /// All workers' caches together.
    pub cache: crate::enrich::cache::CacheStats,
}

/// The result of a run over several inputs.
#[derive(Debug)]
pub struct RunOutcome {
    pub stats: RunStats,
    /// The first input that failed, if any: inputs before it were processed
    /// completely, and so was everything it yielded before the failure.
    pub error: Option<CaptureError>,
}

/// Keeps the run's capture clock and numbers the steps.
struct Clock {
    tick_ns: u64,
    next_tick: Option<Timestamp>,
    seq: u64,
    stats: RunStats,
}

impl Clock {
    fn new(tick_ns: u64) -> Clock {
        Clock {
            tick_ns: tick_ns.max(1),
            next_tick: None,
            seq: 0,
            stats: RunStats::default(),
        }
    }

    /// Count a frame and move the capture clock (never backwards).
    fn account(&mut self, frame: &Frame<'_>) {
        let ts = frame.ts;
        self.stats.capture.frames += 1;
        self.stats.capture.bytes += frame.orig_len as u64;
        self.stats.first_ts.get_or_insert(ts);
        // The clock never runs backwards, whatever the capture's timestamps.
        if self.stats.last_ts.is_none_or(|last| ts > last) {
            self.stats.last_ts = Some(ts);
        }
    }

    /// Account a frame; returns the tick to run before it, if one is due.
    fn advance(&mut self, frame: &Frame<'_>) -> Option<(u64, Timestamp)> {
        let ts = frame.ts;
        self.account(frame);
        match self.next_tick {
            None => {
                self.next_tick = Some(ts.add_nanos(self.tick_ns));
                None
            }
            Some(t) if ts >= t => {
                let now = ts;
                self.next_tick = Some(ts.add_nanos(self.tick_ns));
                self.seq += 1;
                Some((self.seq, now))
            }
            Some(_) => None,
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

/// Analyse capture files in order, writing events to `sink`.
pub fn run_files(
    paths: &[PathBuf],
    config: &PipelineConfig,
    sink: &mut (dyn EventSink + Send),
) -> std::io::Result<RunOutcome> {
    let mut files: Vec<Option<CaptureFile>> = Vec::with_capacity(paths.len());
    let mut open_error = None;
    for path in paths {
        match open_file(path) {
            Ok(f) => files.push(Some(f)),
            Err(e) => {
                // Inputs after a failed one are not read: the run stops at
                // the first failure, as it would mid-file.
                open_error = Some(e);
                break;
            }
        }
    }
    let workers = config.workers.max(1);
    let all_mapped = files
        .iter()
        .flatten()
        .all(|f| matches!(f, CaptureFile::Mapped(_)));
    let mut outcome = if workers == 1 {
        run_inline(&mut files, config, sink)?
    } else if all_mapped {
        let mapped: Vec<&MappedCapture> = files
            .iter()
            .flatten()
            .filter_map(|f| match f {
                CaptureFile::Mapped(m) => Some(m),
                CaptureFile::Streamed(_) => None,
            })
            .collect();
        run_shared_scan(&mapped, config, workers, sink)?
    } else {
        run_parallel(&mut files, config, workers, sink)?
    };
    if outcome.error.is_none() {
        outcome.error = open_error;
    }
    Ok(outcome)
}

/// Analyse a live source (or any [`PacketSource`]) until it ends.
pub fn run_source(
    source: &mut dyn PacketSource,
    config: &PipelineConfig,
    sink: &mut (dyn EventSink + Send),
) -> std::io::Result<RunOutcome> {
    let mut engine = Engine::new(config, 1);
    let mut clock = Clock::new(config.tick_ns);
    let mut writer = OrderedWriter::new(1, sink);
    writer.set_detector(config.detector());
    let error = pump(source, &mut engine, &mut clock, &mut writer)?;
    let live = source.stats();
    clock.stats.capture.kernel_drops = live.kernel_drops;
    clock.stats.capture.interface_drops = live.interface_drops;
    finish(config, vec![engine], clock, writer, error)
}

/// Feed every frame of `source` through one engine on this thread, writing
/// events as they come; returns the source's error, if it ended with one.
/// Generic, so that the mapped reader's per-frame path is inlined.
fn pump<S: PacketSource + ?Sized>(
    source: &mut S,
    engine: &mut Engine,
    clock: &mut Clock,
    writer: &mut OrderedWriter<'_>,
) -> std::io::Result<Option<CaptureError>> {
    loop {
        match source.next_frame() {
            Ok(Some(frame)) => {
                if let Some((seq, now)) = clock.advance(&frame) {
                    engine.on_tick(seq, now);
                }
                let seq = clock.next_seq();
                engine.on_frame(seq, &frame);
                if !engine.events.is_empty() {
                    writer.push_all(0, engine.events.drain(..))?;
                    writer.watermark(0, clock.seq)?;
                }
            }
            Ok(None) => return Ok(None),
            Err(e) => return Ok(Some(e)),
        }
    }
}

fn run_inline(
    files: &mut [Option<CaptureFile>],
    config: &PipelineConfig,
    sink: &mut (dyn EventSink + Send),
) -> std::io::Result<RunOutcome> {
    let mut engine = Engine::new(config, 1);
    let mut clock = Clock::new(config.tick_ns);
    let mut writer = OrderedWriter::new(1, sink);
    writer.set_detector(config.detector());
    let mut error = None;
    for file in files.iter_mut().flatten() {
        error = match file {
            CaptureFile::Mapped(mapped) => {
                pump(&mut mapped.reader(), &mut engine, &mut clock, &mut writer)?
            }
            CaptureFile::Streamed(stream) => pump(stream, &mut engine, &mut clock, &mut writer)?,
        };
        if error.is_some() {
            break;
        }
    }
    finish(config, vec![engine], clock, writer, error)
}

/// Flush every engine, write the stats event, and total the run.
fn finish(
    config: &PipelineConfig,
    mut engines: Vec<Engine>,
    mut clock: Clock,
    mut writer: OrderedWriter<'_>,
    error: Option<CaptureError>,
) -> std::io::Result<RunOutcome> {
    for (i, engine) in engines.iter_mut().enumerate() {
        engine.finish();
        writer.push_all(i, engine.events.drain(..))?;
    }
    for i in 0..engines.len() {
        writer.watermark(i, u64::MAX)?;
    }
    for engine in &engines {
        clock.stats.decode.merge(&engine.decoder.counters);
        clock.stats.flows.merge(&engine.table.stats());
    }
    if let Some(shared) = &config.enrich {
        let mut e = EnrichmentStats {
            databases: shared.load().databases.clone(),
            ..EnrichmentStats::default()
        };
        for engine in &engines {
            e.cache.merge(&engine.enrich_stats());
        }
        clock.stats.enrichment = Some(e);
    }
    clock.stats.events = writer.written();
    if clock.stats.sensor.is_none() {
        // `analyze` with a policy naming the sensor.
        clock.stats.sensor = config
            .detect
            .as_ref()
            .and_then(|d| d.current().sensor_name.clone());
    }
    if let Some(d) = writer.detector_mut() {
        d.finish();
        clock.stats.detect = Some(d.stats().clone());
    }
    let mut line = Vec::with_capacity(1024);
    crate::output::stats::write_stats_event(&mut line, &clock.stats);
    writer.write_raw(&line)?;
    writer.flush()?;
    Ok(RunOutcome {
        stats: clock.stats,
        error,
    })
}

/// Frames a scanning worker reads between two reports to the writer.
const SCAN_REPORT_FRAMES: u64 = 4096;

/// Parallel analysis of memory-mapped files without a dispatcher: every
/// worker reads every frame from the shared mapping (no copy), runs the same
/// run clock (so sequence numbers and ticks agree by construction), finds
/// each frame's shard, and fully processes only the frames it owns. Reading
/// and sharding are repeated per worker, decoding and flow work are not,
/// and no frame crosses a thread. The calling thread merges the reports.
fn run_shared_scan(
    files: &[&MappedCapture],
    config: &PipelineConfig,
    workers: usize,
    sink: &mut (dyn EventSink + Send),
) -> std::io::Result<RunOutcome> {
    let mut engines: Vec<Engine> = (0..workers).map(|_| Engine::new(config, workers)).collect();
    let mut writer = OrderedWriter::new(workers, sink);
    writer.set_detector(config.detector());
    let scans = std::thread::scope(|scope| -> std::io::Result<Vec<ScanResult>> {
        let (report_tx, report_rx) = bounded::<WorkerReport>(workers * BATCHES_IN_FLIGHT);
        let handles: Vec<_> = engines
            .iter_mut()
            .enumerate()
            .map(|(w, engine)| {
                let tx = report_tx.clone();
                scope.spawn(move || scan_worker(w, workers, engine, files, config.tick_ns, tx))
            })
            .collect();
        drop(report_tx);
        for WorkerReport::Events {
            worker,
            events,
            watermark,
        } in &report_rx
        {
            writer.push_all(worker, events.into_iter())?;
            writer.watermark(worker, watermark)?;
        }
        Ok(handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect())
    })?;
    // Every worker read the same frames: take the first one's clock and error.
    let first = scans.into_iter().next();
    let (clock, error) = match first {
        Some(r) => (r.clock, r.error),
        None => (Clock::new(config.tick_ns), None),
    };
    finish(config, engines, clock, writer, error)
}

struct ScanResult {
    clock: Clock,
    error: Option<CaptureError>,
}

fn scan_worker(
    worker: usize,
    workers: usize,
    engine: &mut Engine,
    files: &[&MappedCapture],
    tick_ns: u64,
    reports: Sender<WorkerReport>,
) -> ScanResult {
    let mut clock = Clock::new(tick_ns);
    let mut error = None;
    let mut since_report = 0u64;
    let report = |engine: &mut Engine, watermark: u64| {
        let events = std::mem::take(&mut engine.events);
        // The writer only goes away when writing failed; the run ends then.
        reports
            .send(WorkerReport::Events {
                worker,
                events,
                watermark,
            })
            .is_ok()
    };
    'files: for file in files {
        let mut reader = file.reader();
        loop {
            match reader.next_frame() {
                Ok(Some(frame)) => {
                    if let Some((seq, now)) = clock.advance(&frame) {
                        engine.on_tick(seq, now);
                    }
                    let seq = clock.next_seq();
                    if shard_of(&frame, workers) == worker {
                        engine.on_frame(seq, &frame);
                    } else {
                        // DNS answers of every shard name later flows.
                        engine.on_other_shard_frame(seq, &frame);
                    }
                    since_report += 1;
                    if since_report >= SCAN_REPORT_FRAMES {
                        since_report = 0;
                        if !report(engine, clock.seq) {
                            break 'files;
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break 'files;
                }
            }
        }
    }
    // Flushing (seq u64::MAX) is left to `finish`, after every scan ended.
    report(engine, clock.seq);
    ScanResult { clock, error }
}

/// A frame on its way to a worker. `own` is false for a DNS response of
/// another worker's shard, handed to every worker for its name cache.
enum Item<'a> {
    Frame {
        seq: u64,
        frame: Frame<'a>,
        own: bool,
    },
    /// A frame whose bytes were copied into the batch's arena.
    Copied {
        seq: u64,
        ts: Timestamp,
        link: LinkType,
        orig_len: u32,
        interface: u32,
        range: (u32, u32),
        own: bool,
    },
    Tick {
        seq: u64,
        now: Timestamp,
    },
    /// New site networks (service reload), from here on.
    Site {
        site: std::sync::Arc<SiteNetworks>,
    },
    /// A new remote-access catalogue (service reload), from here on.
    Catalogue {
        catalogue: std::sync::Arc<crate::catalogue::Catalogue>,
    },
}

struct Batch<'a> {
    items: Vec<Item<'a>>,
    arena: Vec<u8>,
    /// The sequence number up to which the dispatcher has handed this worker
    /// everything it owns.
    watermark: u64,
}

impl Batch<'_> {
    fn new() -> Self {
        Batch {
            items: Vec::with_capacity(BATCH_FRAMES + 1),
            arena: Vec::new(),
            watermark: 0,
        }
    }
}

/// Which worker owns a frame: a symmetric hash of its innermost address pair.
fn shard_of(frame: &Frame<'_>, workers: usize) -> usize {
    match decode::shard_addresses(frame) {
        Some((a, b)) => {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            (mix(addr_bits(lo) ^ addr_bits(hi).rotate_left(17)) % workers as u64) as usize
        }
        None => 0,
    }
}

fn addr_bits(a: IpAddr) -> u64 {
    match a {
        IpAddr::V4(v4) => u32::from(v4) as u64,
        IpAddr::V6(v6) => {
            let x = u128::from(v6);
            (x as u64) ^ ((x >> 64) as u64)
        }
    }
}

/// A fixed 64-bit finaliser (from SplitMix64): shards must not depend on a
/// per-process random seed, or outputs would differ between runs.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What a worker sends to the writer.
enum WorkerReport {
    Events {
        worker: usize,
        events: Vec<KeyedEvent>,
        watermark: u64,
    },
}

struct Dispatcher<'a> {
    workers: usize,
    batches: Vec<Batch<'a>>,
    to_workers: Vec<Sender<Batch<'a>>>,
    recycled: Receiver<Batch<'a>>,
}

impl<'a> Dispatcher<'a> {
    fn send(&mut self, w: usize) {
        let fresh = self.recycled.try_recv().unwrap_or_else(|_| Batch::new());
        let batch = std::mem::replace(&mut self.batches[w], fresh);
        // A worker only goes away when it has panicked; the scope reports it.
        let _ = self.to_workers[w].send(batch);
    }

    fn tick(&mut self, seq: u64, now: Timestamp) {
        for w in 0..self.workers {
            self.batches[w].items.push(Item::Tick { seq, now });
            self.batches[w].watermark = seq;
            self.send(w);
        }
    }

    fn push(&mut self, w: usize, item: Item<'a>, seq: u64) {
        let b = &mut self.batches[w];
        b.items.push(item);
        b.watermark = seq;
        if b.items.len() >= BATCH_FRAMES {
            self.send(w);
        }
    }

    /// Hand a DNS response to every worker but its owner `w`, at its
    /// place in the sequence (see `Engine::on_other_shard_frame`).
    fn hand_to_other_shards(&mut self, w: usize, seq: u64, frame: Frame<'a>) {
        for other in (0..self.workers).filter(|&o| o != w) {
            let own = false;
            self.push(other, Item::Frame { seq, frame, own }, seq);
        }
    }

    /// The same for a frame that does not outlive the read: its bytes are
    /// copied into each batch.
    fn copy_hand_to_other_shards(&mut self, w: usize, seq: u64, frame: &Frame<'_>) {
        for other in (0..self.workers).filter(|&o| o != w) {
            self.push_copied(other, seq, frame, false);
        }
    }

    /// Copy a frame's bytes into worker `w`'s batch (`own`: `w` owns the
    /// frame's shard, rather than only learning DNS answers from it).
    fn push_copied(&mut self, w: usize, seq: u64, frame: &Frame<'_>, own: bool) {
        let Some(b) = self.batches.get_mut(w) else {
            return;
        };
        let start = u32::try_from(b.arena.len()).unwrap_or(u32::MAX);
        b.arena.extend_from_slice(frame.data);
        let item = Item::Copied {
            seq,
            ts: frame.ts,
            link: frame.link,
            orig_len: frame.orig_len,
            interface: frame.interface,
            range: (start, u32::try_from(frame.data.len()).unwrap_or(0)),
            own,
        };
        self.push(w, item, seq);
    }

    fn flush_all(&mut self, seq: u64) {
        for w in 0..self.workers {
            self.batches[w].watermark = seq;
            self.send(w);
        }
    }
}

fn run_parallel(
    files: &mut [Option<CaptureFile>],
    config: &PipelineConfig,
    workers: usize,
    sink: &mut (dyn EventSink + Send),
) -> std::io::Result<RunOutcome> {
    let mut engines: Vec<Engine> = (0..workers).map(|_| Engine::new(config, workers)).collect();
    let mut clock = Clock::new(config.tick_ns);
    let mut error = None;

    let writer = std::thread::scope(|scope| -> std::io::Result<OrderedWriter<'_>> {
        let (report_tx, report_rx) = bounded::<WorkerReport>(workers * BATCHES_IN_FLIGHT);
        let (recycle_tx, recycle_rx) = bounded::<Batch<'_>>(workers * (BATCHES_IN_FLIGHT + 2));
        let mut to_workers = Vec::with_capacity(workers);
        for (w, engine) in engines.iter_mut().enumerate() {
            let (tx, rx) = bounded::<Batch<'_>>(BATCHES_IN_FLIGHT);
            to_workers.push(tx);
            let report_tx = report_tx.clone();
            let recycle_tx = recycle_tx.clone();
            scope.spawn(move || worker_loop(w, engine, rx, report_tx, recycle_tx, None));
        }
        drop(report_tx);
        let detector = config.detector();
        // The writer merges the workers' reports on its own thread, so a
        // worker never waits for the dispatcher and vice versa.
        let writer_thread = scope.spawn(move || -> std::io::Result<OrderedWriter<'_>> {
            let mut writer = OrderedWriter::new(workers, sink);
            writer.set_detector(detector);
            for WorkerReport::Events {
                worker,
                events,
                watermark,
            } in report_rx
            {
                writer.push_all(worker, events.into_iter())?;
                writer.watermark(worker, watermark)?;
            }
            Ok(writer)
        });
        let mut dispatcher = Dispatcher {
            workers,
            batches: (0..workers).map(|_| Batch::new()).collect(),
            to_workers,
            recycled: recycle_rx,
        };

        'files: for file in files.iter_mut().flatten() {
            match file {
                CaptureFile::Mapped(mapped) => {
                    let mapped = &*mapped;
                    let mut reader = mapped.reader();
                    loop {
                        match reader.next_frame() {
                            Ok(Some(frame)) => {
                                if let Some((seq, now)) = clock.advance(&frame) {
                                    dispatcher.tick(seq, now);
                                }
                                let seq = clock.next_seq();
                                let w = shard_of(&frame, workers);
                                if Engine::is_dns_response(&frame) {
                                    dispatcher.hand_to_other_shards(w, seq, frame);
                                }
                                let own = true;
                                dispatcher.push(w, Item::Frame { seq, frame, own }, seq);
                            }
                            Ok(None) => break,
                            Err(e) => {
                                error = Some(e);
                                break 'files;
                            }
                        }
                    }
                }
                CaptureFile::Streamed(stream) => loop {
                    match stream.next_frame() {
                        Ok(Some(frame)) => {
                            if let Some((seq, now)) = clock.advance(&frame) {
                                dispatcher.tick(seq, now);
                            }
                            let seq = clock.next_seq();
                            let w = shard_of(&frame, workers);
                            if Engine::is_dns_response(&frame) {
                                dispatcher.copy_hand_to_other_shards(w, seq, &frame);
                            }
                            dispatcher.push_copied(w, seq, &frame, true);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            error = Some(e);
                            break 'files;
                        }
                    }
                },
            }
        }
        dispatcher.flush_all(clock.seq);
        // Closing the work channels tells the workers to finish; when the
        // last one is gone the writer's channel closes too.
        drop(dispatcher);
        match writer_thread.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })?;
    finish(config, engines, clock, writer, error)
}

fn worker_loop<'a>(
    worker: usize,
    engine: &mut Engine,
    work: Receiver<Batch<'a>>,
    reports: Sender<WorkerReport>,
    recycle: Sender<Batch<'a>>,
    snapshot: Option<&std::sync::Mutex<service::WorkerSnapshot>>,
) {
    for mut batch in work {
        let mut ticked = false;
        for item in batch.items.drain(..) {
            match item {
                Item::Frame {
                    seq,
                    frame,
                    own: true,
                } => engine.on_frame(seq, &frame),
                Item::Frame {
                    seq,
                    frame,
                    own: false,
                } => engine.on_other_shard_frame(seq, &frame),
                Item::Copied {
                    seq,
                    ts,
                    link,
                    orig_len,
                    interface,
                    range,
                    own,
                } => {
                    let (start, len) = (range.0 as usize, range.1 as usize);
                    let data = batch.arena.get(start..start + len).unwrap_or(&[]);
                    let frame = Frame {
                        ts,
                        link,
                        orig_len,
                        interface,
                        data,
                    };
                    if own {
                        engine.on_frame(seq, &frame);
                    } else {
                        engine.on_other_shard_frame(seq, &frame);
                    }
                }
                Item::Tick { seq, now } => {
                    engine.on_tick(seq, now);
                    ticked = true;
                }
                Item::Site { site } => engine.set_site(&site),
                Item::Catalogue { catalogue } => engine.set_catalogue(catalogue),
            }
        }
        // The service reads these for its periodic stats, once a tick.
        if let (true, Some(slot)) = (ticked, snapshot) {
            let snap = service::WorkerSnapshot::of(engine);
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = snap;
        }
        batch.arena.clear();
        let events = std::mem::take(&mut engine.events);
        let report = WorkerReport::Events {
            worker,
            events,
            watermark: batch.watermark,
        };
        if reports.send(report).is_err() {
            return;
        }
        let _ = recycle.try_send(batch);
    }
}
