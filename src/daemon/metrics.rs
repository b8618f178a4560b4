//! The Prometheus metrics endpoint and the counters behind it.
//!
//! Off by default; when on it listens on loopback unless configured
//! otherwise (`[metrics] listen`). It serves the text exposition format
//! (Prometheus "Exposition formats", text format 0.0.4) on `GET /metrics`
//! from one small thread: a scrape is a few hundred bytes, and nothing on the
//! packet path waits for it. Counters come from the service's periodic
//! snapshot of the pipeline and from the event sink, which counts what it
//! writes by `event_type`; the output sinks' queue depth, spool size and
//! delivery counters are read from the output router at each scrape.
//!
//! Other parts of the service add their own labelled counters through
//! [`Metrics::counter_family`] (e.g. alerts by rule: [`Metrics::alerts`]).
//! A family holds at most [`MAX_SERIES`] label sets: beyond that, counts go
//! to one series whose labels are all [`OVERFLOW_LABEL`], so a hostile or
//! buggy producer cannot grow the exposition without bound.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::output::sink::SinkStats;
use crate::pipeline::RunStats;

/// Distinct event types counted (a bound against a runaway producer).
const MAX_EVENT_TYPES: usize = 32;
/// Bytes of a request head read before answering.
const MAX_REQUEST: usize = 8192;
/// Label sets one counter family holds (a bound on the exposition's size).
pub const MAX_SERIES: usize = 1024;
/// Label families a [`Metrics`] holds.
const MAX_FAMILIES: usize = 32;
/// The label value of the series that takes counts beyond [`MAX_SERIES`].
pub const OVERFLOW_LABEL: &str = "_other";
/// Longest label value kept (longer ones are cut at a character boundary).
const MAX_LABEL_VALUE: usize = 128;

/// Reads the output sinks' counters at scrape time.
pub type OutputStats = Box<dyn Fn() -> Vec<SinkStats> + Send>;

/// What the endpoint reports, updated by the service.
pub struct Metrics {
    stats: Mutex<Option<RunStats>>,
    events: Mutex<BTreeMap<String, u64>>,
    pub reloads_ok: AtomicU64,
    pub reloads_refused: AtomicU64,
    /// Alerts raised, by rule (`gatewatch_alerts_total{rule="..."}`):
    /// detection calls `metrics.alerts.inc(&[rule_id])`.
    pub alerts: Arc<CounterFamily>,
    families: Mutex<Vec<Arc<CounterFamily>>>,
    outputs: Mutex<Option<OutputStats>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let alerts = Arc::new(CounterFamily::new(
            "gatewatch_alerts_total",
            "Alerts raised, by rule.",
            &["rule"],
        ));
        Metrics {
            stats: Mutex::default(),
            events: Mutex::default(),
            reloads_ok: AtomicU64::new(0),
            reloads_refused: AtomicU64::new(0),
            families: Mutex::new(vec![alerts.clone()]),
            alerts,
            outputs: Mutex::new(None),
        }
    }
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        Arc::new(Metrics::default())
    }

    /// The counter family called `name` (a Prometheus metric name ending in
    /// `_total`), registered on first use with its help text and label
    /// names; later calls with the same name return the same family. When
    /// [`MAX_FAMILIES`] are registered, a new name gets a family that counts
    /// but is not exposed.
    pub fn counter_family(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Arc<CounterFamily> {
        let mut families = self.families.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = families.iter().find(|f| f.name == name) {
            return f.clone();
        }
        let family = Arc::new(CounterFamily::new(name, help, labels));
        if families.len() < MAX_FAMILIES {
            families.push(family.clone());
        }
        family
    }

    /// Where the output sinks' counters come from (the output router).
    /// The function runs at each scrape, under a lock that
    /// [`Metrics::clear_output_stats`] also takes.
    pub fn set_output_stats(&self, f: OutputStats) {
        *self.outputs.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
    }

    /// Stop reading the sinks' counters; when this returns, no scrape is
    /// reading them (so the router can be shut down).
    pub fn clear_output_stats(&self) {
        *self.outputs.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn output_stats(&self) -> Vec<SinkStats> {
        let outputs = self.outputs.lock().unwrap_or_else(|e| e.into_inner());
        outputs.as_ref().map(|f| f()).unwrap_or_default()
    }

    /// The pipeline's latest totals.
    pub fn update(&self, stats: &RunStats) {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner()) = Some(stats.clone());
    }

    /// Count the events in a chunk of JSON lines by their `event_type`.
    pub fn count_events(&self, chunk: &[u8]) {
        const KEY: &[u8] = b"\"event_type\":\"";
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let mut rest = chunk;
        while let Some(at) = find(rest, KEY) {
            let Some(after) = rest.get(at + KEY.len()..) else {
                break;
            };
            let end = after.iter().position(|&b| b == b'"').unwrap_or(after.len());
            let name = after.get(..end.min(32)).unwrap_or(&[]);
            let name = String::from_utf8_lossy(name);
            if let Some(n) = events.get_mut(name.as_ref()) {
                *n += 1;
            } else if events.len() < MAX_EVENT_TYPES {
                events.insert(name.into_owned(), 1);
            }
            rest = after.get(end..).unwrap_or(&[]);
        }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let stats = self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let s = stats.unwrap_or_default();
        let c = &s.capture;
        counter(
            &mut out,
            "gatewatch_packets_total",
            "Frames captured.",
            c.frames,
        );
        counter(
            &mut out,
            "gatewatch_bytes_total",
            "Bytes on the wire of the frames captured.",
            c.bytes,
        );
        counter(
            &mut out,
            "gatewatch_kernel_drops_total",
            "Packets the kernel dropped before gatewatch read them (pcap stats).",
            c.kernel_drops,
        );
        counter(
            &mut out,
            "gatewatch_interface_drops_total",
            "Packets the interface dropped (pcap stats).",
            c.interface_drops,
        );
        let errors: u64 = s.decode.errors.values().sum();
        counter(
            &mut out,
            "gatewatch_decode_errors_total",
            "Frames that could not be decoded.",
            errors,
        );
        let f = &s.flows;
        gauge(
            &mut out,
            "gatewatch_flows_active",
            "Flows held now.",
            f.active,
        );
        counter(
            &mut out,
            "gatewatch_flows_total",
            "Flows created.",
            f.created,
        );
        counter(
            &mut out,
            "gatewatch_flows_evicted_total",
            "Flows evicted because the flow table was full (pressure).",
            f.evicted,
        );
        counter(
            &mut out,
            "gatewatch_flows_timed_out_total",
            "Flows ended by an idle timeout.",
            f.timed_out,
        );
        counter(
            &mut out,
            "gatewatch_flows_midstream_total",
            "Flows whose start was not seen.",
            f.midstream,
        );
        counter(
            &mut out,
            "gatewatch_reassembly_memcap_hits_total",
            "Stream bytes refused by the reassembly memcap.",
            f.reassembly_memcap_hits,
        );
        let events = self
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        counter(
            &mut out,
            "gatewatch_sessions_total",
            "Remote-access sessions reported (session events).",
            events.get("session").copied().unwrap_or(0),
        );
        let _ = writeln!(
            out,
            "# HELP gatewatch_events_total Events written, by event_type."
        );
        let _ = writeln!(out, "# TYPE gatewatch_events_total counter");
        for (kind, n) in &events {
            let _ = writeln!(
                out,
                "gatewatch_events_total{{type=\"{}\"}} {n}",
                escape(kind)
            );
        }
        let _ = writeln!(out, "# HELP gatewatch_geoip_database_age_seconds Age of each GeoIP database (from its build time).");
        let _ = writeln!(out, "# TYPE gatewatch_geoip_database_age_seconds gauge");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        for db in s.enrichment.iter().flat_map(|e| &e.databases) {
            let _ = writeln!(
                out,
                "gatewatch_geoip_database_age_seconds{{database=\"{}\",type=\"{}\"}} {}",
                escape(&db.name),
                escape(&db.database_type),
                now.saturating_sub(db.build_epoch)
            );
        }
        render_outputs(&mut out, &self.output_stats());
        let families = self
            .families
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for f in &families {
            f.render(&mut out);
        }
        let _ = writeln!(
            out,
            "# HELP gatewatch_reloads_total Configuration reloads (SIGHUP), by result."
        );
        let _ = writeln!(out, "# TYPE gatewatch_reloads_total counter");
        let _ = writeln!(
            out,
            "gatewatch_reloads_total{{result=\"ok\"}} {}",
            self.reloads_ok.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "gatewatch_reloads_total{{result=\"refused\"}} {}",
            self.reloads_refused.load(Ordering::Relaxed)
        );
        out
    }
}

/// Per output sink: queue depth, spool size, deliveries and losses.
fn render_outputs(out: &mut String, sinks: &[SinkStats]) {
    type Field = fn(&SinkStats) -> u64;
    let rows: [(&str, &str, &str, Field); 7] = [
        (
            "gatewatch_output_queue_depth",
            "gauge",
            "Events waiting in the output sink's queue.",
            |s| u64::try_from(s.queue_depth).unwrap_or(u64::MAX),
        ),
        (
            "gatewatch_output_spool_bytes",
            "gauge",
            "Bytes in the output sink's on-disk spool.",
            |s| s.spool_bytes,
        ),
        (
            "gatewatch_output_spool_events",
            "gauge",
            "Events in the output sink's on-disk spool.",
            |s| s.spool_events,
        ),
        (
            "gatewatch_output_events_sent_total",
            "counter",
            "Events the output sink delivered (replays from the spool included).",
            |s| s.sent,
        ),
        (
            "gatewatch_output_events_spooled_total",
            "counter",
            "Events the output sink wrote to its spool.",
            |s| s.spooled,
        ),
        (
            "gatewatch_output_events_failed_total",
            "counter",
            "Events the output sink could not deliver and will not retry.",
            |s| s.failed,
        ),
        (
            "gatewatch_output_retries_total",
            "counter",
            "Delivery attempts the output sink retried.",
            |s| s.retried,
        ),
    ];
    for (name, kind, help, field) in rows {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for s in sinks {
            let _ = writeln!(out, "{name}{{sink=\"{}\"}} {}", escape(&s.name), field(s));
        }
    }
    let name = "gatewatch_output_events_dropped_total";
    let _ = writeln!(
        out,
        "# HELP {name} Events the output sink lost, by reason (queue full, spool full, aged out of the spool).\n# TYPE {name} counter"
    );
    for s in sinks {
        for (reason, n) in [
            ("queue_full", s.dropped_queue_full),
            ("spool_full", s.dropped_spool_full),
            ("expired", s.expired),
        ] {
            let _ = writeln!(
                out,
                "{name}{{sink=\"{}\",reason=\"{reason}\"}} {n}",
                escape(&s.name)
            );
        }
    }
}

/// A counter with labels (e.g. alerts by rule), bounded to [`MAX_SERIES`]
/// label sets. Counting takes a lock: for events (alerts, reloads), not
/// for packets.
pub struct CounterFamily {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    series: Mutex<BTreeMap<Vec<String>, u64>>,
}

impl CounterFamily {
    fn new(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Self {
        CounterFamily {
            name,
            help,
            labels,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    /// Add one to the series with these label values (one per label name,
    /// in order; missing ones are empty, extra ones ignored).
    pub fn inc(&self, values: &[&str]) {
        self.add(values, 1);
    }

    /// Add `n` to the series with these label values.
    pub fn add(&self, values: &[&str], n: u64) {
        let key = self.key(values);
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let key = if series.contains_key(&key) || series.len() < MAX_SERIES {
            key
        } else {
            vec![OVERFLOW_LABEL.to_owned(); self.labels.len()]
        };
        let v = series.entry(key).or_insert(0);
        *v = v.saturating_add(n);
    }

    /// The count of one series (0 when never counted).
    pub fn get(&self, values: &[&str]) -> u64 {
        let key = self.key(values);
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        series.get(&key).copied().unwrap_or(0)
    }

    /// One value per label name, clipped.
    fn key(&self, values: &[&str]) -> Vec<String> {
        (0..self.labels.len())
            .map(|i| clip(values.get(i).copied().unwrap_or("")).to_owned())
            .collect()
    }

    fn render(&self, out: &mut String) {
        let (name, help) = (self.name, self.help);
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        for (values, n) in series.iter() {
            let labels: Vec<String> = self
                .labels
                .iter()
                .zip(values)
                .map(|(l, v)| format!("{l}=\"{}\"", escape(v)))
                .collect();
            let _ = writeln!(out, "{name}{{{}}} {n}", labels.join(","));
        }
    }
}

/// A label value cut to [`MAX_LABEL_VALUE`] bytes at a character boundary.
fn clip(v: &str) -> &str {
    if v.len() <= MAX_LABEL_VALUE {
        return v;
    }
    let mut end = MAX_LABEL_VALUE;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    v.get(..end).unwrap_or("")
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn counter(out: &mut String, name: &str, help: &str, v: u64) {
    metric(out, name, help, "counter", v);
}

fn gauge(out: &mut String, name: &str, help: &str, v: u64) {
    metric(out, name, help, "gauge", v);
}

fn metric(out: &mut String, name: &str, help: &str, kind: &str, v: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
    );
}

/// Label values escape backslash, quote and newline (text format 0.0.4).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// An event sink that counts what passes through it.
pub struct CountingSink<W: Write> {
    pub inner: W,
    pub metrics: Arc<Metrics>,
}

impl<W: Write> Write for CountingSink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.metrics.count_events(buf.get(..n).unwrap_or(&[]));
        Ok(n)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)?;
        self.metrics.count_events(buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Serve `GET /metrics` on `addr` until `stop` is set.
pub fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
) -> io::Result<(SocketAddr, std::thread::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let handle = std::thread::Builder::new()
        .name("gatewatch-metrics".into())
        .spawn(move || {
            while !stop.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = answer(stream, &metrics);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        })?;
    Ok((local, handle))
}

/// Read one request head and answer it; the connection then closes.
fn answer(mut stream: TcpStream, metrics: &Metrics) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while head.len() < MAX_REQUEST && find(&head, b"\r\n\r\n").is_none() {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(buf.get(..n).unwrap_or(&[]));
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let mut parts = line.split(|&b| b == b' ');
    let (method, target) = (parts.next().unwrap_or(&[]), parts.next().unwrap_or(&[]));
    let (status, ctype, body) = match (method, target) {
        (b"GET", b"/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.render(),
        ),
        (b"GET", _) => ("404 Not Found", "text/plain", "see /metrics\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_string(),
        ),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_events_by_type_and_serves_them() {
        let m = Metrics::new();
        m.count_events(
            b"{\"timestamp\":\"x\",\"event_type\":\"flow\"}\n{\"event_type\":\"session\"}\n{\"event_type\":\"flow\"}\n",
        );
        let mut stats = RunStats::default();
        stats.capture.frames = 42;
        stats.capture.kernel_drops = 7;
        stats.flows.evicted = 3;
        m.update(&stats);
        let stop = Arc::new(AtomicBool::new(false));
        let (addr, handle) =
            serve("127.0.0.1:0".parse().unwrap(), m.clone(), stop.clone()).unwrap();
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut resp = String::new();
        conn.read_to_string(&mut resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
        assert!(resp.contains("text/plain; version=0.0.4"));
        for want in [
            "gatewatch_packets_total 42\n",
            "gatewatch_kernel_drops_total 7\n",
            "gatewatch_flows_evicted_total 3\n",
            "gatewatch_sessions_total 1\n",
            "gatewatch_events_total{type=\"flow\"} 2\n",
            "# TYPE gatewatch_flows_active gauge\n",
        ] {
            assert!(resp.contains(want), "missing {want:?} in {resp}");
        }
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let mut resp = String::new();
        conn.read_to_string(&mut resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
        stop.store(true, Ordering::Release);
        handle.join().unwrap();
    }

    /// Per-sink gauges and counters come from the output router's
    /// snapshot at scrape time, one series per sink; once cleared, none.
    #[test]
    fn output_sinks_are_exposed_per_sink() {
        let m = Metrics::new();
        let siem = SinkStats {
            name: "siem".into(),
            sent: 10,
            spool_bytes: 4096,
            spool_events: 12,
            queue_depth: 5,
            dropped_spool_full: 2,
            ..SinkStats::default()
        };
        let file = SinkStats {
            name: "flows \"file\"".into(),
            sent: 99,
            ..SinkStats::default()
        };
        m.set_output_stats(Box::new(move || vec![siem.clone(), file.clone()]));
        let text = m.render();
        for want in [
            "# TYPE gatewatch_output_queue_depth gauge\n",
            "gatewatch_output_queue_depth{sink=\"siem\"} 5\n",
            "gatewatch_output_spool_bytes{sink=\"siem\"} 4096\n",
            "gatewatch_output_spool_events{sink=\"siem\"} 12\n",
            "gatewatch_output_events_sent_total{sink=\"flows \\\"file\\\"\"} 99\n",
            "gatewatch_output_events_dropped_total{sink=\"siem\",reason=\"spool_full\"} 2\n",
            "gatewatch_output_events_dropped_total{sink=\"siem\",reason=\"queue_full\"} 0\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in {text}");
        }
        m.clear_output_stats();
        assert!(!m.render().contains("{sink="));
    }

    /// Alerts by rule, and a family registered by name: one series per
    /// label set, counts add up, and label sets beyond the bound share the
    /// overflow series instead of growing the exposition.
    #[test]
    fn labelled_counter_families_are_bounded() {
        let m = Metrics::new();
        m.alerts.inc(&["rdp-from-vpn-exit"]);
        m.alerts.inc(&["rdp-from-vpn-exit"]);
        m.alerts.add(&["ssh \"farm\""], 3);
        assert_eq!(m.alerts.get(&["rdp-from-vpn-exit"]), 2);
        assert_eq!(m.alerts.get(&["never"]), 0);
        let text = m.render();
        assert!(
            text.contains("# TYPE gatewatch_alerts_total counter\n"),
            "{text}"
        );
        assert!(text.contains("gatewatch_alerts_total{rule=\"rdp-from-vpn-exit\"} 2\n"));
        assert!(text.contains("gatewatch_alerts_total{rule=\"ssh \\\"farm\\\"\"} 3\n"));

        let f = m.counter_family("gatewatch_test_total", "A test family.", &["a", "b"]);
        assert!(Arc::ptr_eq(
            &f,
            &m.counter_family("gatewatch_test_total", "", &[])
        ));
        for i in 0..MAX_SERIES + 10 {
            f.inc(&[&i.to_string(), "x"]);
        }
        f.inc(&["0", "x"]);
        assert_eq!(f.get(&["0", "x"]), 2);
        assert_eq!(f.get(&[OVERFLOW_LABEL, OVERFLOW_LABEL]), 10);
        let text = m.render();
        let series = text
            .lines()
            .filter(|l| l.starts_with("gatewatch_test_total{"))
            .count();
        assert_eq!(series, MAX_SERIES + 1);
        assert!(text.contains("gatewatch_test_total{a=\"0\",b=\"x\"} 2\n"));
        // A long label value is cut, not refused.
        let long = "é".repeat(MAX_LABEL_VALUE);
        m.alerts.inc(&[&long]);
        assert_eq!(m.alerts.get(&[&long]), 1);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
