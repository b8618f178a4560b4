//! The Prometheus metrics endpoint and the counters behind it.
//!
//! Off by default; when on it listens on loopback unless configured
//! otherwise (`[metrics] listen`). It serves the text exposition format
//! (Prometheus "Exposition formats", text format 0.0.4) on `GET /metrics`
//! from one small thread: a scrape is a few hundred bytes, and nothing on the
//! packet path waits for it. Counters come from the service's periodic
//! snapshot of the pipeline and from the event sink, which counts what it
//! writes by `event_type`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::pipeline::RunStats;

/// Distinct event types counted (a bound against a runaway producer).
const MAX_EVENT_TYPES: usize = 32;
/// Bytes of a request head read before answering.
const MAX_REQUEST: usize = 8192;

/// What the endpoint reports, updated by the service.
#[derive(Default)]
pub struct Metrics {
    stats: Mutex<Option<RunStats>>,
    events: Mutex<BTreeMap<String, u64>>,
    pub reloads_ok: AtomicU64,
    pub reloads_refused: AtomicU64,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        Arc::new(Metrics::default())
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

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
