//! HTTP(S) POST of batched events: plain NDJSON, Splunk HEC or
//! Elasticsearch bulk, with retries, exponential backoff and a bounded
//! on-disk [`Spool`] so a receiver outage loses nothing.
//!
//! Batches close at `batch_events`, `batch_bytes` or `batch_millis`. One
//! batch is in flight at a time (delivery order is event order); the POST
//! runs on a blocking thread (`ureq`, rustls for https) while the task keeps
//! taking events. Closed batches wait in memory (at most `memory_batches`);
//! when a batch has failed `retries` times, or memory is full, the waiting
//! batches go to the spool, and from then on new batches are appended to
//! the spool until it has been replayed (oldest first), so order holds
//! across the outage. Delivery is at least once: a POST that reached the
//! receiver but whose answer was lost is sent again.
//!
//! Status codes: 2xx delivered (for bulk, items with an error status are
//! counted `failed`); 400 and 413 are permanent (the batch is counted
//! `failed`, never retried, as resending cannot fix it); anything else
//! (connection refused, timeout, 401/403/404/429/5xx) is retried.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::config::{HttpBody, SinkConfig};
use super::format::rfc3339_to_ns;
use super::spool::Spool;
use super::{event_type_of, ticker, Counters, SinkCx};

pub const DEFAULT_BATCH_EVENTS: usize = 500;
pub const DEFAULT_BATCH_BYTES: usize = 1024 * 1024;
pub const DEFAULT_BATCH_MILLIS: u64 = 1000;
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;
pub const DEFAULT_RETRIES: u32 = 3;
pub const DEFAULT_BACKOFF_MILLIS: u64 = 200;
pub const DEFAULT_BACKOFF_MAX_MILLIS: u64 = 30_000;
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 256 * 1024 * 1024;
pub const DEFAULT_MEMORY_BATCHES: usize = 16;
/// Largest receiver answer read (bulk responses list every item).
const MAX_RESPONSE: u64 = 16 * 1024 * 1024;

/// Where the batch in flight came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Head {
    Memory,
    Spool,
}

enum PostError {
    /// Resending cannot help.
    Permanent(String),
    Retry(String),
}

/// Delivered, with the number of events the receiver rejected.
type PostResult = Result<u64, PostError>;

struct Batch {
    body: Arc<Vec<u8>>,
    events: u64,
}

/// An HTTP sink's settings and queues.
pub struct HttpSink {
    agent: ureq::Agent,
    url: String,
    body: HttpBody,
    authorization: Option<String>,
    index: Option<String>,
    sourcetype: Option<String>,
    batch_events: usize,
    batch_bytes: usize,
    batch_age: Duration,
    retries: u32,
    backoff_base: Duration,
    backoff_max: Duration,
    memory_batches: usize,
    batch: Vec<u8>,
    batch_count: u64,
    batch_started: Instant,
    memq: VecDeque<Batch>,
    spool: Option<Spool>,
    attempts: u32,
    backoff: Duration,
    next_try: Instant,
}

impl HttpSink {
    /// From a validated config; opens (and indexes) the spool directory.
    pub fn new(cfg: &SinkConfig, cx: &SinkCx) -> std::io::Result<HttpSink> {
        let timeout = Duration::from_secs(cfg.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS));
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .build();
        let spool = match &cfg.spool_dir {
            Some(d) => Some(Spool::open(
                d,
                cfg.spool_max_bytes.unwrap_or(DEFAULT_SPOOL_MAX_BYTES),
                cfg.spool_max_age_secs.map(Duration::from_secs),
            )?),
            None => None,
        };
        let authorization = match (&cfg.token, &cfg.authorization) {
            (Some(t), _) => Some(format!("Splunk {t}")),
            (None, Some(a)) => Some(a.clone()),
            (None, None) => None,
        };
        let backoff_base =
            Duration::from_millis(cfg.backoff_millis.unwrap_or(DEFAULT_BACKOFF_MILLIS));
        let s = HttpSink {
            agent,
            url: cfg.url.clone().unwrap_or_default(),
            body: cfg.body.unwrap_or_default(),
            authorization,
            index: cfg.index.clone(),
            sourcetype: cfg.sourcetype.clone(),
            batch_events: cfg.batch_events.unwrap_or(DEFAULT_BATCH_EVENTS),
            batch_bytes: cfg.batch_bytes.unwrap_or(DEFAULT_BATCH_BYTES),
            batch_age: Duration::from_millis(cfg.batch_millis.unwrap_or(DEFAULT_BATCH_MILLIS)),
            retries: cfg.retries.unwrap_or(DEFAULT_RETRIES).max(1),
            backoff_base,
            backoff_max: Duration::from_millis(
                cfg.backoff_max_millis.unwrap_or(DEFAULT_BACKOFF_MAX_MILLIS),
            )
            .max(backoff_base),
            memory_batches: cfg.memory_batches.unwrap_or(DEFAULT_MEMORY_BATCHES),
            batch: Vec::new(),
            batch_count: 0,
            batch_started: Instant::now(),
            memq: VecDeque::new(),
            spool,
            attempts: 0,
            backoff: backoff_base,
            next_try: Instant::now(),
        };
        s.gauges(&cx.counters);
        Ok(s)
    }

    fn content_type(&self) -> &'static str {
        match self.body {
            HttpBody::SplunkHec => "application/json",
            HttpBody::Ndjson | HttpBody::ElasticBulk => "application/x-ndjson",
        }
    }

    /// Add one event to the open batch, in the body style.
    fn add(&mut self, cx: &SinkCx, line: &[u8]) {
        let Some(rec) = cx.render(line) else { return };
        let et = event_type_of(line);
        if self.batch_count == 0 {
            self.batch_started = Instant::now();
        }
        match self.body {
            HttpBody::Ndjson => {}
            HttpBody::ElasticBulk => {
                // Elasticsearch bulk API: an action line, then the source.
                // `create` works for indices and data streams alike.
                let index = self.index.clone().unwrap_or_else(|| "gatewatch".into());
                let action = serde_json::json!({"create": {"_index": index}});
                if serde_json::to_writer(&mut self.batch, &action).is_err() {
                    return;
                }
                self.batch.push(b'\n');
            }
            HttpBody::SplunkHec => {
                // Splunk HEC /services/collector/event: one envelope per event,
                // `time` in epoch seconds (with decimals) from the event.
                self.batch.extend_from_slice(b"{\"event\":");
                self.batch.extend_from_slice(&rec);
                let st = self
                    .sourcetype
                    .clone()
                    .unwrap_or_else(|| format!("gatewatch:{et}"));
                let mut tail = serde_json::Map::new();
                tail.insert("sourcetype".into(), st.into());
                if let Some(ns) = string_field(line, "timestamp").and_then(rfc3339_to_ns) {
                    let ms = ns / 1_000_000;
                    if let Ok(t) =
                        format!("{}.{:03}", ms / 1000, ms % 1000).parse::<serde_json::Number>()
                    {
                        tail.insert("time".into(), serde_json::Value::Number(t));
                    }
                }
                if let Some(i) = &self.index {
                    tail.insert("index".into(), i.clone().into());
                }
                for (k, v) in tail {
                    self.batch.push(b',');
                    let _ = serde_json::to_writer(&mut self.batch, &k);
                    self.batch.push(b':');
                    let _ = serde_json::to_writer(&mut self.batch, &v);
                }
                self.batch.extend_from_slice(b"}\n");
                self.batch_count += 1;
                self.close_if_full(&cx.counters);
                return;
            }
        }
        self.batch.extend_from_slice(&rec);
        self.batch.push(b'\n');
        self.batch_count += 1;
        self.close_if_full(&cx.counters);
    }

    fn close_if_full(&mut self, c: &Counters) {
        if self.batch_count >= self.batch_events as u64 || self.batch.len() >= self.batch_bytes {
            self.close_batch(c);
        }
    }

    /// Move the open batch to the delivery queue (memory, else spool).
    fn close_batch(&mut self, c: &Counters) {
        if self.batch_count == 0 {
            return;
        }
        let body = std::mem::take(&mut self.batch);
        let events = std::mem::take(&mut self.batch_count);
        let spool_busy = self.spool.as_ref().is_some_and(|s| !s.is_empty());
        if !spool_busy && self.memq.len() < self.memory_batches {
            self.memq.push_back(Batch {
                body: Arc::new(body),
                events,
            });
            return;
        }
        match self.spool.as_mut() {
            Some(sp) => match sp.push_back(&body, events) {
                Ok(true) => {
                    c.spooled.fetch_add(events, Ordering::Relaxed);
                }
                Ok(false) => {
                    c.dropped_spool_full.fetch_add(events, Ordering::Relaxed);
                }
                Err(e) => {
                    c.dropped_spool_full.fetch_add(events, Ordering::Relaxed);
                    c.error(format_args!("spool write: {e}"));
                }
            },
            None => {
                c.dropped_spool_full.fetch_add(events, Ordering::Relaxed);
            }
        }
        self.gauges(c);
    }

    /// Move every batch waiting in memory to the front of the spool (in
    /// order), so memory is free and nothing is lost at exit.
    fn spill_memory(&mut self, c: &Counters) {
        let Some(sp) = self.spool.as_mut() else {
            return;
        };
        while let Some(b) = self.memq.pop_back() {
            match sp.push_front(&b.body, b.events) {
                Ok(true) => {
                    c.spooled.fetch_add(b.events, Ordering::Relaxed);
                }
                Ok(false) => {
                    c.dropped_spool_full.fetch_add(b.events, Ordering::Relaxed);
                }
                Err(e) => {
                    c.dropped_spool_full.fetch_add(b.events, Ordering::Relaxed);
                    c.error(format_args!("spool write: {e}"));
                }
            }
        }
        self.gauges(c);
    }

    fn gauges(&self, c: &Counters) {
        let (bytes, events) = self
            .spool
            .as_ref()
            .map_or((0, 0), |s| (s.bytes(), s.events()));
        c.spool_bytes.store(bytes, Ordering::Relaxed);
        c.spool_events.store(events, Ordering::Relaxed);
    }

    /// The next batch to deliver and where it is.
    fn head(&mut self, c: &Counters) -> Option<(Head, Batch)> {
        if let Some(b) = self.memq.front() {
            return Some((
                Head::Memory,
                Batch {
                    body: b.body.clone(),
                    events: b.events,
                },
            ));
        }
        let sp = self.spool.as_mut()?;
        loop {
            match sp.front()? {
                Ok((body, events)) => {
                    return Some((
                        Head::Spool,
                        Batch {
                            body: Arc::new(body),
                            events,
                        },
                    ))
                }
                Err(e) => {
                    // Unreadable (deleted by hand?): skip it rather than stall.
                    c.error(format_args!("spool read: {e}"));
                    sp.pop_front();
                }
            }
        }
    }

    fn pop(&mut self, head: Head, c: &Counters) {
        match head {
            Head::Memory => {
                self.memq.pop_front();
            }
            Head::Spool => {
                if let Some(sp) = self.spool.as_mut() {
                    sp.pop_front();
                }
            }
        }
        self.gauges(c);
    }

    fn start_post(&self, body: Arc<Vec<u8>>) -> JoinHandle<PostResult> {
        let agent = self.agent.clone();
        let url = self.url.clone();
        let ct = self.content_type();
        let auth = self.authorization.clone();
        let bulk = self.body == HttpBody::ElasticBulk;
        tokio::task::spawn_blocking(move || post(&agent, &url, ct, auth.as_deref(), &body, bulk))
    }

    fn complete(&mut self, head: Head, events: u64, r: PostResult, c: &Counters) {
        match r {
            Ok(rejected) => {
                let ok = events.saturating_sub(rejected);
                c.sent.fetch_add(ok, Ordering::Relaxed);
                c.failed.fetch_add(rejected, Ordering::Relaxed);
                if head == Head::Spool {
                    c.replayed.fetch_add(ok, Ordering::Relaxed);
                }
                self.pop(head, c);
                self.attempts = 0;
                self.backoff = self.backoff_base;
                self.next_try = Instant::now();
            }
            Err(PostError::Permanent(msg)) => {
                c.failed.fetch_add(events, Ordering::Relaxed);
                c.error(format_args!("{}: {msg}", self.url));
                self.pop(head, c);
            }
            Err(PostError::Retry(msg)) => {
                c.retried.fetch_add(1, Ordering::Relaxed);
                c.error(format_args!("{}: {msg}", self.url));
                self.attempts = self.attempts.saturating_add(1);
                self.next_try = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(self.backoff_max);
                if self.attempts >= self.retries && head == Head::Memory {
                    self.spill_memory(c);
                }
            }
        }
    }

    fn tick(&mut self, c: &Counters, spool_in_flight: bool) {
        if self.batch_count > 0 && self.batch_started.elapsed() >= self.batch_age {
            self.close_batch(c);
        }
        if !spool_in_flight {
            if let Some(sp) = self.spool.as_mut() {
                let n = sp.expire();
                if n > 0 {
                    c.expired.fetch_add(n, Ordering::Relaxed);
                    self.gauges(c);
                }
            }
        }
    }

    fn drained(&self) -> bool {
        self.batch_count == 0
            && self.memq.is_empty()
            && self.spool.as_ref().is_none_or(|s| s.is_empty())
    }

    /// The receiver looks down: the head has failed `retries` times.
    fn receiver_down(&self) -> bool {
        self.attempts >= self.retries
    }
}

/// The string value of `"key":"..."` in an engine line, without parsing.
fn string_field<'a>(line: &'a [u8], key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":\"");
    let pos = line.windows(pat.len()).position(|w| w == pat.as_bytes())?;
    let rest = line.get(pos + pat.len()..)?;
    let end = rest.iter().position(|&b| b == b'"')?;
    std::str::from_utf8(rest.get(..end)?).ok()
}

/// One POST (blocking).
fn post(
    agent: &ureq::Agent,
    url: &str,
    content_type: &str,
    auth: Option<&str>,
    body: &[u8],
    bulk: bool,
) -> PostResult {
    let mut req = agent.post(url).set("Content-Type", content_type);
    if let Some(a) = auth {
        req = req.set("Authorization", a);
    }
    match req.send_bytes(body) {
        Ok(resp) => {
            if !bulk {
                return Ok(0);
            }
            let mut text = String::new();
            use std::io::Read;
            if resp
                .into_reader()
                .take(MAX_RESPONSE)
                .read_to_string(&mut text)
                .is_err()
            {
                return Ok(0);
            }
            Ok(bulk_rejected(&text))
        }
        Err(ureq::Error::Status(code, _)) if code == 400 || code == 413 => {
            Err(PostError::Permanent(format!("HTTP {code}")))
        }
        Err(ureq::Error::Status(code, _)) => Err(PostError::Retry(format!("HTTP {code}"))),
        Err(e) => Err(PostError::Retry(e.to_string())),
    }
}

/// Items of an Elasticsearch bulk response with an error status (the
/// response has `"errors": true` and per-item `status` >= 300).
fn bulk_rejected(text: &str) -> u64 {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return 0;
    };
    if v.get("errors").and_then(|e| e.as_bool()) != Some(true) {
        return 0;
    }
    let Some(items) = v.get("items").and_then(|i| i.as_array()) else {
        return 0;
    };
    items
        .iter()
        .filter_map(|it| it.as_object()?.values().next()?.get("status")?.as_u64())
        .filter(|&s| s >= 300)
        .count() as u64
}

async fn wait<T>(
    h: &mut Option<(Head, u64, JoinHandle<T>)>,
) -> Option<(Head, u64, Result<T, tokio::task::JoinError>)> {
    match h {
        Some((head, events, j)) => {
            let r = j.await;
            Some((*head, *events, r))
        }
        None => std::future::pending().await,
    }
}

/// The HTTP sink's task.
pub async fn run(mut s: HttpSink, cx: SinkCx, mut rx: mpsc::Receiver<Vec<u8>>) {
    let c = cx.counters.clone();
    let mut tick = ticker();
    let mut inflight: Option<(Head, u64, JoinHandle<PostResult>)> = None;
    let mut open = true;
    loop {
        tokio::select! {
            m = rx.recv(), if open => match m {
                Some(line) => s.add(&cx, &line),
                None => {
                    open = false;
                    s.close_batch(&c);
                }
            },
            Some((head, events, r)) = wait(&mut inflight) => {
                inflight = None;
                let r = r.unwrap_or_else(|e| Err(PostError::Retry(format!("post task: {e}"))));
                s.complete(head, events, r, &c);
            }
            _ = tick.tick() => {
                let spool_in_flight = matches!(inflight, Some((Head::Spool, _, _)));
                s.tick(&c, spool_in_flight);
            }
            _ = cx.reopen.notified() => {
                // A reload is a good moment to try a down receiver again.
                s.next_try = Instant::now();
            }
        }
        if inflight.is_none() && Instant::now() >= s.next_try {
            if let Some((head, b)) = s.head(&c) {
                inflight = Some((head, b.events, s.start_post(b.body)));
            }
        }
        if !open {
            let done = inflight.is_none() && (s.drained() || s.receiver_down());
            if done || Instant::now() >= cx.deadline() {
                break;
            }
        }
    }
    // Whatever is still in memory (the batch in flight included, which may
    // then arrive twice) goes to the spool for the next run.
    s.close_batch(&c);
    s.spill_memory(&c);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_response_counts_rejected_items() {
        // Shape of the Elasticsearch bulk API response (docs: "Bulk API",
        // response body: errors, items[].<action>.status).
        let r = r#"{"took":3,"errors":true,"items":[{"create":{"status":201}},{"create":{"status":400,"error":{"type":"mapper_parsing_exception"}}},{"create":{"status":429}}]}"#;
        assert_eq!(bulk_rejected(r), 2);
        assert_eq!(
            bulk_rejected(r#"{"errors":false,"items":[{"create":{"status":201}}]}"#),
            0
        );
        assert_eq!(bulk_rejected("not json"), 0);
    }

    #[test]
    fn string_field_reads_engine_lines() {
        let l = br#"{"timestamp":"2023-08-23T21:20:48.436021Z","event_type":"flow"}"#;
        assert_eq!(
            string_field(l, "timestamp"),
            Some("2023-08-23T21:20:48.436021Z")
        );
        assert_eq!(string_field(l, "nope"), None);
    }
}
