//! Output sinks: where the engine's JSON lines go.
//!
//! One event model (each event is one `\n`-terminated JSON object with an
//! `event_type`, as [`crate::output`] writes it), several sinks, each with
//! its own event-type filter, format ([`Format`]: native, ECS, OCSF) and
//! optional pseudonymisation ([`privacy`]):
//!
//! * [`file`]: JSON lines to a file, size/time rotation, reopen on SIGHUP;
//! * stdout;
//! * [`syslog`]: RFC 5424 over UDP, TCP (RFC 6587 octet counting) or a
//!   Unix datagram socket;
//! * [`http`]: batched POSTs (NDJSON, Splunk HEC, Elasticsearch bulk) with
//!   retries, backoff and a bounded on-disk [`spool`] replayed in order.
//!
//! Use:
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use gatewatch::output::sink::{OutputsConfig, Router};
//! let cfg: OutputsConfig = toml::from_str(r#"
//!     [[sinks]]
//!     type = "file"
//!     path = "/var/log/gatewatch/eve.json"
//!     rotate_bytes = 104857600
//! "#)?;
//! let router = Router::new(&cfg)?;
//! router.send(b"{\"event_type\":\"flow\"}\n"); // from any thread, never blocks
//! router.reopen();                           // on SIGHUP
//! let report = router.shutdown(std::time::Duration::from_secs(5));
//! # let _ = report; Ok(()) }
//! ```
//!
//! The router owns a small tokio runtime (two worker threads) on which one
//! task per sink runs; [`Router::send`] only copies the line into each
//! interested sink's bounded queue, so a slow or dead receiver never slows
//! capture: a full queue drops the line and counts it. Do not drop a Router
//! inside an async context (tokio forbids dropping a runtime there); call
//! [`Router::shutdown`] from a plain thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};

pub mod config;
pub mod file;
pub mod format;
pub mod http;
pub mod privacy;
pub mod spool;
pub mod syslog;

pub use config::{
    ConfigError, Format, HttpBody, OutputsConfig, PrivacyConfig, SinkConfig, SinkType,
    SyslogTransport,
};

use privacy::Pseudonymiser;

/// Default per-sink queue length (events).
pub const DEFAULT_QUEUE_CAPACITY: usize = 65_536;

/// Worker threads of the output runtime: file writes may block one briefly,
/// the other keeps the network sinks going.
const RUNTIME_THREADS: usize = 2;

/// How often each sink looks at its clocks (rotation, batch age, replay).
const TICK: Duration = Duration::from_millis(100);

/// Counters of one sink, shared between the router and the sink's task.
#[derive(Debug, Default)]
pub struct Counters {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub retried: AtomicU64,
    pub spooled: AtomicU64,
    pub replayed: AtomicU64,
    pub spool_bytes: AtomicU64,
    pub spool_events: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    pub dropped_spool_full: AtomicU64,
    pub expired: AtomicU64,
    pub rotations: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Counters {
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Remember the latest error (for stats and the daemon's log).
    pub fn error(&self, e: impl std::fmt::Display) {
        if let Ok(mut g) = self.last_error.lock() {
            *g = Some(e.to_string());
        }
    }
}

/// A snapshot of one sink's counters. Counts are events unless said.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SinkStats {
    pub name: String,
    /// Events the receiver accepted (or written, for file/stdout/syslog).
    pub sent: u64,
    /// Events that could not be sent and will not be retried (write
    /// error, rejected by the receiver, unparsable line, too long for syslog).
    pub failed: u64,
    /// HTTP attempts that failed and were retried (attempts, not events).
    pub retried: u64,
    /// Events written to the on-disk spool (total).
    pub spooled: u64,
    /// Events delivered from the spool after an outage (part of `sent`).
    pub replayed: u64,
    /// Bytes and events in the spool now.
    pub spool_bytes: u64,
    pub spool_events: u64,
    /// Events lost: queue full at `send`, spool full, or aged out of the
    /// spool (sum of the three below).
    pub dropped: u64,
    pub dropped_queue_full: u64,
    pub dropped_spool_full: u64,
    pub expired: u64,
    /// Events waiting in the sink's queue now.
    pub queue_depth: usize,
    /// File rotations done.
    pub rotations: u64,
    pub last_error: Option<String>,
}

/// What [`Router::shutdown`] achieved.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ShutdownReport {
    pub sinks: Vec<SinkStats>,
    /// Sinks whose task had not finished at the deadline (their unsent
    /// events are in their spool if they have one, else lost).
    pub timed_out: Vec<String>,
    pub elapsed_ms: u64,
}

/// What every sink task needs besides its own settings.
#[derive(Clone)]
pub struct SinkCx {
    pub name: String,
    pub format: Format,
    pub privacy: Option<Arc<Pseudonymiser>>,
    pub counters: Arc<Counters>,
    pub reopen: Arc<Notify>,
    /// Set when shutting down: the time by which the task must be done.
    pub deadline: Arc<Mutex<Option<Instant>>>,
}

impl SinkCx {
    /// The shutdown deadline, or a default of 5 s from now.
    pub fn deadline(&self) -> Instant {
        self.deadline
            .lock()
            .ok()
            .and_then(|g| *g)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(5))
    }

    /// The line as this sink sends it (no trailing newline), or `None` if it
    /// cannot be parsed for conversion (counted failed).
    pub fn render(&self, line: &[u8]) -> Option<Vec<u8>> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        if self.format == Format::Native && self.privacy.is_none() {
            return Some(line.to_vec());
        }
        let mut v: serde_json::Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => {
                Counters::add(&self.counters.failed, 1);
                self.counters.error(format_args!("unparsable event: {e}"));
                return None;
            }
        };
        if let Some(p) = &self.privacy {
            p.apply(&mut v);
        }
        serde_json::to_vec(&format::convert(self.format, v)).ok()
    }
}

/// The `event_type` of a line as the engine writes it (`"event_type":"x"`),
/// without parsing the whole object; `""` if absent.
pub fn event_type_of(line: &[u8]) -> &str {
    const KEY: &[u8] = b"\"event_type\":\"";
    let Some(pos) = line.windows(KEY.len()).position(|w| w == KEY) else {
        return "";
    };
    let rest = line.get(pos + KEY.len()..).unwrap_or_default();
    let end = rest.iter().position(|&b| b == b'"').unwrap_or(0);
    std::str::from_utf8(rest.get(..end).unwrap_or_default()).unwrap_or("")
}

struct SinkHandle {
    name: String,
    event_types: Vec<String>,
    tx: mpsc::Sender<Vec<u8>>,
    counters: Arc<Counters>,
    reopen: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

/// Fans events out to the configured sinks.
pub struct Router {
    rt: tokio::runtime::Runtime,
    sinks: Vec<SinkHandle>,
    deadline: Arc<Mutex<Option<Instant>>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field(
                "sinks",
                &self.sinks.iter().map(|s| &s.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Router {
    /// Validate `cfg`, open every sink (files are created, sockets bound;
    /// remote receivers are connected lazily) and start their tasks.
    pub fn new(cfg: &OutputsConfig) -> anyhow::Result<Router> {
        cfg.validate()?;
        let privacy = match &cfg.privacy {
            Some(p) => {
                let key = p.load_key()?;
                Some(Arc::new(
                    Pseudonymiser::new(p, &key)
                        .map_err(|e| anyhow::anyhow!("privacy: key: {e}"))?,
                ))
            }
            None => None,
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_THREADS)
            .max_blocking_threads(8)
            .thread_name("gw-output")
            .enable_all()
            .build()?;
        let deadline = Arc::new(Mutex::new(None));
        let mut sinks = Vec::with_capacity(cfg.sinks.len());
        for (i, s) in cfg.sinks.iter().enumerate() {
            let name = s.display_name(i);
            let cx = SinkCx {
                name: name.clone(),
                format: s.format,
                privacy: if s.privacy { privacy.clone() } else { None },
                counters: Arc::new(Counters::default()),
                reopen: Arc::new(Notify::new()),
                deadline: deadline.clone(),
            };
            let (tx, rx) = mpsc::channel(s.queue_capacity.unwrap_or(DEFAULT_QUEUE_CAPACITY));
            let task = spawn_sink(&rt, s, cx.clone(), rx)
                .map_err(|e| anyhow::anyhow!("sinks[{i}] \"{name}\": {e}"))?;
            sinks.push(SinkHandle {
                name,
                event_types: s.event_types.clone(),
                tx,
                counters: cx.counters,
                reopen: cx.reopen,
                task,
            });
        }
        Ok(Router {
            rt,
            sinks,
            deadline,
        })
    }

    /// Queue one event line for every sink that wants its type. Never
    /// blocks; a full queue drops the line for that sink and counts it.
    pub fn send(&self, line: &[u8]) {
        let et = event_type_of(line);
        for s in &self.sinks {
            if !(s.event_types.is_empty() || s.event_types.iter().any(|t| t == et)) {
                continue;
            }
            if s.tx.try_send(line.to_vec()).is_err() {
                Counters::add(&s.counters.dropped_queue_full, 1);
            }
        }
    }

    /// Ask every file sink to reopen its file (after logrotate moved it);
    /// the daemon calls this on SIGHUP. Other sinks reconnect.
    pub fn reopen(&self) {
        for s in &self.sinks {
            s.reopen.notify_one();
        }
    }

    /// Per-sink counters now.
    pub fn stats(&self) -> Vec<SinkStats> {
        self.sinks.iter().map(snapshot).collect()
    }

    /// Stop accepting events, let each sink drain its queue and flush (HTTP
    /// sinks deliver what they can and spool the rest) until `deadline`
    /// from now, then stop.
    pub fn shutdown(self, deadline: Duration) -> ShutdownReport {
        let start = Instant::now();
        if let Ok(mut d) = self.deadline.lock() {
            *d = Some(start + deadline);
        }
        let mut tasks = Vec::new();
        let mut keep = Vec::new();
        for s in self.sinks {
            tasks.push((s.name.clone(), s.task));
            // Dropping the sender ends the task's queue once drained.
            drop(s.tx);
            keep.push((s.name, s.counters));
        }
        let mut timed_out = Vec::new();
        let grace = deadline + Duration::from_millis(500);
        self.rt.block_on(async {
            for (name, mut t) in tasks {
                let left = grace.saturating_sub(start.elapsed());
                if tokio::time::timeout(left, &mut t).await.is_err() {
                    t.abort();
                    timed_out.push(name);
                }
            }
        });
        let sinks = keep.iter().map(|(name, c)| stats_of(name, c, 0)).collect();
        self.rt.shutdown_timeout(Duration::from_millis(200));
        ShutdownReport {
            sinks,
            timed_out,
            elapsed_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }
}

fn snapshot(s: &SinkHandle) -> SinkStats {
    let depth = s.tx.max_capacity().saturating_sub(s.tx.capacity());
    stats_of(&s.name, &s.counters, depth)
}

fn stats_of(name: &str, c: &Counters, queue_depth: usize) -> SinkStats {
    let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let (q, sp, ex) = (
        g(&c.dropped_queue_full),
        g(&c.dropped_spool_full),
        g(&c.expired),
    );
    SinkStats {
        name: name.to_owned(),
        sent: g(&c.sent),
        failed: g(&c.failed),
        retried: g(&c.retried),
        spooled: g(&c.spooled),
        replayed: g(&c.replayed),
        spool_bytes: g(&c.spool_bytes),
        spool_events: g(&c.spool_events),
        dropped: q + sp + ex,
        dropped_queue_full: q,
        dropped_spool_full: sp,
        expired: ex,
        queue_depth,
        rotations: g(&c.rotations),
        last_error: c.last_error.lock().ok().and_then(|g| g.clone()),
    }
}

fn spawn_sink(
    rt: &tokio::runtime::Runtime,
    s: &SinkConfig,
    cx: SinkCx,
    rx: mpsc::Receiver<Vec<u8>>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    Ok(match s.kind {
        SinkType::File => {
            let sink = file::FileSink::open(s)?;
            rt.spawn(file::run(sink, cx, rx))
        }
        SinkType::Stdout => rt.spawn(file::run_stdout(cx, rx)),
        SinkType::Syslog => {
            let sink = syslog::SyslogSink::new(s)?;
            rt.spawn(syslog::run(sink, cx, rx))
        }
        SinkType::Http => {
            let sink = http::HttpSink::new(s, &cx)?;
            rt.spawn(http::run(sink, cx, rx))
        }
    })
}

/// A periodic tick that does not try to catch up after a stall.
fn ticker() -> tokio::time::Interval {
    let mut t = tokio::time::interval(TICK);
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_is_found_without_parsing() {
        assert_eq!(
            event_type_of(br#"{"timestamp":"x","event_type":"flow","a":1}"#),
            "flow"
        );
        assert_eq!(event_type_of(br#"{"event_type":"alert"}"#), "alert");
        assert_eq!(event_type_of(br#"{"event_type":"unterminated"#), "");
        assert_eq!(event_type_of(b"garbage"), "");
    }

    #[test]
    fn validation_names_the_field() {
        let bad = |s: &str| -> String {
            let cfg: OutputsConfig = toml::from_str(s).expect("toml");
            cfg.validate().expect_err("invalid").to_string()
        };
        assert_eq!(
            bad("[[sinks]]\ntype = \"file\""),
            "sinks[0] \"file#0\": path: required for a file sink"
        );
        assert!(bad("[[sinks]]\ntype = \"http\"\nurl = \"ftp://x\"").contains(": url: "));
        assert!(bad("[[sinks]]\ntype = \"stdout\"\nurl = \"http://x\"")
            .contains(": url: not a setting"));
        assert!(
            bad("[[sinks]]\ntype = \"syslog\"\naddress = \"127.0.0.1:514\"\nfacility = 24")
                .contains(": facility: ")
        );
        assert!(bad("[[sinks]]\ntype = \"stdout\"\nprivacy = true").contains(": privacy: "));
        assert!(bad("[privacy]\nkey = \"short\"").starts_with("privacy: key: "));
        let unknown = toml::from_str::<OutputsConfig>("[[sinks]]\ntype = \"file\"\npth = \"x\"")
            .expect_err("unknown key")
            .to_string();
        assert!(unknown.contains("pth"), "{unknown}");
    }
}
