//! The service's pipeline: several live inputs, wall-clock ticks, periodic
//! `stats` events and reconfiguration while running.
//!
//! One dispatcher (the calling thread) reads every input without blocking,
//! copies each frame into the batch of the worker that owns its address
//! pair (the same symmetric hash as for files), and waits in `poll(2)` on
//! all inputs at once when none has a frame. Unlike a capture file, a quiet
//! interface has no timestamps to drive time: ticks come from the wall
//! clock, every `tick_ns`, whether packets arrive or not, so idle flows
//! expire and `stats` events come on time on a silent link.
//!
//! Reconfiguration (the site's networks after SIGHUP) travels in band, as an
//! item in every worker's batch stream: each worker switches between two
//! frames, no flow is lost and no lock is taken per packet.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, never, select, Receiver};

use super::{
    finish, shard_of, worker_loop, Batch, Clock, Dispatcher, EnrichmentStats, EventSink, Item,
    OrderedWriter, PipelineConfig, RunOutcome, RunStats, WorkerReport, BATCHES_IN_FLIGHT,
};
use crate::capture::{CaptureError, Frame, SourceStats, Timestamp};
use crate::decode::DecodeCounters;
use crate::enrich::cache::CacheStats;
use crate::flow::table::FlowTableStats;
use crate::pipeline::Engine;
use crate::site::SiteNetworks;

/// Frames read from one input before the next one gets its turn.
const POLL_BURST: usize = 256;
/// Longest wait in `poll(2)`, so that stop and reload requests are seen
/// promptly.
const MAX_WAIT: Duration = Duration::from_millis(100);

/// A live input the dispatcher can read without blocking.
pub trait LiveInput: Send {
    /// A frame if one is ready now; `Ok(None)` when none is.
    fn poll_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError>;
    /// A descriptor that becomes readable when frames are ready.
    fn fd(&self) -> Option<i32>;
    /// Fresh drop counters from the capture layer.
    fn drops(&mut self) -> SourceStats;
    fn name(&self) -> &str;
}

/// A change applied while running.
#[derive(Debug, Clone, Default)]
pub struct Reconfigure {
    pub site: Option<SiteNetworks>,
    pub sensor: Option<String>,
    /// A new remote-access catalogue (the embedded one and the site's).
    pub catalogue: Option<Arc<crate::catalogue::Catalogue>>,
}

/// Receives the running totals (e.g. to update metrics).
pub type StatsCallback = Box<dyn FnMut(&RunStats) + Send>;

/// How the service runs besides the pipeline configuration.
pub struct ServiceOptions {
    /// Set to stop: capture ends, flows and outputs are flushed.
    pub stop: Arc<AtomicBool>,
    pub reconfigure: Option<Receiver<Reconfigure>>,
    /// Wall-clock interval between `stats` events.
    pub stats_interval: Duration,
    /// The sensor's name, written in `stats` events.
    pub sensor: Option<String>,
    /// Called with the running totals every `snapshot_interval` and at
    /// the end (metrics).
    pub on_stats: Option<StatsCallback>,
    pub snapshot_interval: Duration,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            stop: Arc::new(AtomicBool::new(false)),
            reconfigure: None,
            stats_interval: Duration::from_secs(60),
            sensor: None,
            on_stats: None,
            snapshot_interval: Duration::from_secs(5),
        }
    }
}

/// What a worker last published about itself (at each tick).
#[derive(Debug, Clone, Default)]
pub(crate) struct WorkerSnapshot {
    pub decode: DecodeCounters,
    pub flows: FlowTableStats,
    pub cache: CacheStats,
}

impl WorkerSnapshot {
    pub(crate) fn of(engine: &Engine) -> WorkerSnapshot {
        let (decode, flows) = engine.counters();
        WorkerSnapshot {
            decode: decode.clone(),
            flows,
            cache: engine.enrich_stats(),
        }
    }
}

/// The wall clock as a capture timestamp.
pub fn wall_now() -> Timestamp {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => Timestamp::from_secs_nanos(
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(_) => Timestamp::ZERO,
    }
}

/// Run until `opts.stop` is set or an input fails; then flush every flow
/// and write the final `stats` event.
pub fn run_service(
    inputs: &mut [Box<dyn LiveInput>],
    config: &PipelineConfig,
    mut opts: ServiceOptions,
    sink: &mut (dyn EventSink + Send),
) -> io::Result<RunOutcome> {
    let workers = config.workers.max(1);
    let mut engines: Vec<Engine> = (0..workers).map(|_| Engine::new(config, workers)).collect();
    let snapshots: Vec<Mutex<WorkerSnapshot>> = (0..workers)
        .map(|_| Mutex::new(WorkerSnapshot::default()))
        .collect();
    let written = AtomicU64::new(0);
    // The writer thread's detector counters, for the periodic stats.
    let detect_snap: Mutex<Option<crate::detect::DetectStats>> = Mutex::new(None);
    let mut clock = Clock::new(config.tick_ns);
    clock.stats.sensor = opts.sensor.clone();
    let mut error = None;

    let writer = std::thread::scope(|scope| -> io::Result<OrderedWriter<'_>> {
        let (report_tx, report_rx) = bounded::<WorkerReport>(workers * BATCHES_IN_FLIGHT);
        let (recycle_tx, recycle_rx) = bounded::<Batch<'_>>(workers * (BATCHES_IN_FLIGHT + 2));
        let (raw_tx, raw_rx) = bounded::<Vec<u8>>(4);
        let mut to_workers = Vec::with_capacity(workers);
        for ((w, engine), snap) in engines.iter_mut().enumerate().zip(&snapshots) {
            let (tx, rx) = bounded::<Batch<'_>>(BATCHES_IN_FLIGHT);
            to_workers.push(tx);
            let report_tx = report_tx.clone();
            let recycle_tx = recycle_tx.clone();
            scope.spawn(move || worker_loop(w, engine, rx, report_tx, recycle_tx, Some(snap)));
        }
        drop(report_tx);
        let written = &written;
        let detect_snap = &detect_snap;
        let detector = config.detector();
        let writer_thread = scope.spawn(move || -> io::Result<OrderedWriter<'_>> {
            let mut writer = OrderedWriter::new(workers, sink);
            writer.set_detector(detector);
            let mut raw_rx = raw_rx;
            loop {
                select! {
                    recv(report_rx) -> msg => match msg {
                        Ok(WorkerReport::Events { worker, events, watermark }) => {
                            writer.push_all(worker, events.into_iter())?;
                            writer.watermark(worker, watermark)?;
                            written.store(writer.written(), Ordering::Relaxed);
                            if let Some(d) = writer.detector() {
                                *detect_snap.lock().unwrap_or_else(|e| e.into_inner()) =
                                    Some(d.stats().clone());
                            }
                            // Live events are read as they happen.
                            writer.flush()?;
                        }
                        Err(_) => break,
                    },
                    recv(raw_rx) -> msg => match msg {
                        Ok(line) => {
                            writer.write_raw(&line)?;
                            writer.flush()?;
                        }
                        Err(_) => raw_rx = never(),
                    },
                }
            }
            Ok(writer)
        });
        let mut dispatcher = Dispatcher {
            workers,
            batches: (0..workers).map(|_| Batch::new()).collect(),
            to_workers,
            recycled: recycle_rx,
        };

        let tick = Duration::from_nanos(config.tick_ns.max(1_000_000));
        let mut next_tick = Instant::now() + tick;
        let mut next_stats = Instant::now() + opts.stats_interval;
        let mut next_snapshot = Instant::now() + opts.snapshot_interval;
        'run: while !opts.stop.load(Ordering::Acquire) {
            if let Some(rx) = &opts.reconfigure {
                while let Ok(change) = rx.try_recv() {
                    if let Some(site) = change.site {
                        let seq = clock.next_seq();
                        dispatcher.broadcast_site(seq, Arc::new(site));
                    }
                    if let Some(name) = change.sensor {
                        clock.stats.sensor = Some(name);
                    }
                    if let Some(catalogue) = change.catalogue {
                        let seq = clock.next_seq();
                        dispatcher.broadcast(seq, |_| Item::Catalogue {
                            catalogue: Arc::clone(&catalogue),
                        });
                    }
                }
            }
            let mut got = 0usize;
            for input in inputs.iter_mut() {
                for _ in 0..POLL_BURST {
                    match input.poll_frame() {
                        Ok(Some(frame)) => {
                            got += 1;
                            clock.account(&frame);
                            let seq = clock.next_seq();
                            let w = shard_of(&frame, workers);
                            // Every worker learns every DNS answer (the
                            // name cache), as in `run_parallel`.
                            if Engine::is_dns_response(&frame) {
                                dispatcher.copy_hand_to_other_shards(w, seq, &frame);
                            }
                            dispatcher.push_copied(w, seq, &frame, true);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            error = Some(e);
                            break 'run;
                        }
                    }
                }
            }
            let now = Instant::now();
            if now >= next_tick {
                let seq = clock.next_seq();
                dispatcher.tick(seq, wall_now());
                next_tick = now + tick;
            }
            if now >= next_snapshot && now < next_stats {
                next_snapshot = now + opts.snapshot_interval;
                if let Some(f) = opts.on_stats.as_mut() {
                    f(&running_stats(
                        config,
                        &clock,
                        inputs,
                        &snapshots,
                        written,
                        detect_snap,
                    ));
                }
            }
            if now >= next_stats {
                next_stats = now + opts.stats_interval;
                next_snapshot = now + opts.snapshot_interval;
                let stats = running_stats(config, &clock, inputs, &snapshots, written, detect_snap);
                if let Some(f) = opts.on_stats.as_mut() {
                    f(&stats);
                }
                let mut line = Vec::with_capacity(1024);
                crate::output::stats::write_stats_event_at(&mut line, &stats, wall_now());
                if raw_tx.send(line).is_err() {
                    break 'run;
                }
            }
            if got == 0 {
                let until = next_tick.min(next_stats).min(next_snapshot);
                let left = until
                    .saturating_duration_since(Instant::now())
                    .min(MAX_WAIT);
                wait_any(inputs, left);
            }
        }
        drop(raw_tx);
        dispatcher.flush_all(clock.seq);
        drop(dispatcher);
        match writer_thread.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })?;
    for input in inputs.iter_mut() {
        let d = input.drops();
        clock.stats.capture.kernel_drops += d.kernel_drops;
        clock.stats.capture.interface_drops += d.interface_drops;
    }
    let outcome = finish(config, engines, clock, writer, error)?;
    if let Some(f) = opts.on_stats.as_mut() {
        f(&outcome.stats);
    }
    Ok(outcome)
}

/// The totals so far: the dispatcher's capture counters, the inputs' drop
/// counters and each worker's last snapshot.
fn running_stats(
    config: &PipelineConfig,
    clock: &Clock,
    inputs: &mut [Box<dyn LiveInput>],
    snapshots: &[Mutex<WorkerSnapshot>],
    written: &AtomicU64,
    detect: &Mutex<Option<crate::detect::DetectStats>>,
) -> RunStats {
    let mut stats = clock.stats.clone();
    for input in inputs.iter_mut() {
        let d = input.drops();
        stats.capture.kernel_drops += d.kernel_drops;
        stats.capture.interface_drops += d.interface_drops;
    }
    let mut cache = CacheStats::default();
    for snap in snapshots {
        let s = snap.lock().unwrap_or_else(|e| e.into_inner());
        stats.decode.merge(&s.decode);
        stats.flows.merge(&s.flows);
        cache.merge(&s.cache);
    }
    stats.events = written.load(Ordering::Relaxed);
    stats.detect = detect.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(shared) = &config.enrich {
        stats.enrichment = Some(EnrichmentStats {
            databases: shared.load().databases.clone(),
            cache,
        });
    }
    stats
}

impl Dispatcher<'_> {
    /// New site networks for every worker, between two frames.
    fn broadcast_site(&mut self, seq: u64, site: Arc<SiteNetworks>) {
        self.broadcast(seq, |_| Item::Site {
            site: Arc::clone(&site),
        });
    }

    /// Give every worker an item (a reconfiguration) at the same point of
    /// the sequence.
    fn broadcast(&mut self, seq: u64, item: impl Fn(usize) -> Item<'static>) {
        for w in 0..self.workers {
            self.batches[w].items.push(item(w));
            self.batches[w].watermark = seq;
            self.send(w);
        }
    }
}

/// Wait until an input is readable or `timeout` passes.
#[cfg(feature = "live")]
fn wait_any(inputs: &[Box<dyn LiveInput>], timeout: Duration) {
    let mut fds: Vec<libc::pollfd> = inputs
        .iter()
        .filter_map(|i| i.fd())
        .map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    if fds.is_empty() {
        std::thread::sleep(timeout);
        return;
    }
    let ms = i32::try_from(timeout.as_millis())
        .unwrap_or(i32::MAX)
        .max(1);
    let n = libc::nfds_t::try_from(fds.len()).unwrap_or(0);
    // SAFETY: `fds` is a live array of `n` pollfd; poll writes only
    // `revents`. Errors (EINTR from a signal) just end the wait early.
    unsafe {
        libc::poll(fds.as_mut_ptr(), n, ms);
    }
}

#[cfg(not(feature = "live"))]
fn wait_any(_inputs: &[Box<dyn LiveInput>], timeout: Duration) {
    // Without libc there is nothing to poll: inputs are in-memory (tests).
    std::thread::sleep(timeout.min(Duration::from_millis(5)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::LinkType;

    /// Frames from memory, then silence.
    struct MemInput {
        frames: Vec<(Timestamp, Vec<u8>)>,
        next: usize,
    }

    impl LiveInput for MemInput {
        fn poll_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
            let Some((ts, data)) = self.frames.get(self.next) else {
                return Ok(None);
            };
            self.next += 1;
            Ok(Some(Frame {
                ts: *ts,
                link: LinkType::Ethernet,
                orig_len: data.len() as u32,
                interface: 0,
                data,
            }))
        }
        fn fd(&self) -> Option<i32> {
            None
        }
        fn drops(&mut self) -> SourceStats {
            SourceStats {
                kernel_drops: 3,
                ..SourceStats::default()
            }
        }
        fn name(&self) -> &str {
            "mem"
        }
    }

    /// An Ethernet/IPv4/UDP frame 192.0.2.1:1000 -> 198.51.100.7:53.
    fn udp_frame() -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let ip = [
            0x45, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 198, 51, 100, 7,
        ];
        f.extend_from_slice(&ip);
        f.extend_from_slice(&[0x03, 0xe8, 0, 53, 0, 12, 0, 0, 1, 2, 3, 4]);
        f
    }

    /// With no packet after the first, the wall-clock ticks alone expire
    /// the flow (udp-new 0.3 s) and periodic stats events come; the site
    /// change reaches the workers; stop ends the run with a final stats.
    #[test]
    fn idle_expiry_and_periodic_stats_on_wall_clock() {
        let mut config = PipelineConfig {
            workers: 2,
            tick_ns: 50_000_000,
            ..PipelineConfig::default()
        };
        config.flow.timeouts.udp_new_ns = 300_000_000;
        let mut inputs: Vec<Box<dyn LiveInput>> = vec![Box::new(MemInput {
            frames: vec![(wall_now(), udp_frame())],
            next: 0,
        })];
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = bounded(1);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let opts = ServiceOptions {
            stop: stop.clone(),
            reconfigure: Some(rx),
            stats_interval: Duration::from_millis(200),
            sensor: Some("s1".into()),
            on_stats: Some(Box::new(move |s: &RunStats| {
                seen2.lock().unwrap().push(s.flows.timed_out)
            })),
            snapshot_interval: Duration::from_millis(200),
        };
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(700));
            tx.send(Reconfigure {
                site: None,
                sensor: Some("s2".into()),
                catalogue: None,
            })
            .unwrap();
            std::thread::sleep(Duration::from_millis(300));
            stop.store(true, Ordering::Release);
        });
        let mut out = Vec::new();
        let t0 = Instant::now();
        let outcome = run_service(&mut inputs, &config, opts, &mut out).unwrap();
        stopper.join().unwrap();
        assert!(t0.elapsed() < Duration::from_secs(3));
        assert!(outcome.error.is_none());
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let flows = lines
            .iter()
            .filter(|l| l.contains("\"event_type\":\"flow\""))
            .count();
        let stats: Vec<&&str> = lines
            .iter()
            .filter(|l| l.contains("\"event_type\":\"stats\""))
            .collect();
        assert_eq!(flows, 1, "{text}");
        // The flow ended by timeout, before the stop.
        assert!(text.contains("\"reason\":\"timeout\""), "{text}");
        assert!(stats.len() >= 4, "{text}");
        assert!(stats[0].contains("\"name\":\"s1\""), "{}", stats[0]);
        assert!(stats.last().unwrap().contains("\"name\":\"s2\""));
        assert!(stats.last().unwrap().contains("\"kernel_drops\":3"));
        assert_eq!(outcome.stats.flows.timed_out, 1);
        let seen = seen.lock().unwrap();
        assert!(seen.len() >= 4 && *seen.last().unwrap() == 1, "{seen:?}");
    }
}
