//! The `stats` event written at the end of a run (and periodically by the
//! service).
//!
//! Suricata's stats event nests counters by subsystem under `stats`
//! (`stats.capture.kernel_drops`, `stats.decoder.pkts`, `stats.flow.*`); we
//! keep that shape with our own counter names, documented in
//! `docs/events.md` and pinned by `schema/stats.json`.

use serde::Serialize;

use super::time::Rfc3339;
use crate::capture::{SourceStats, Timestamp};
use crate::decode::{DecodeCounters, Layer};
use crate::flow::table::FlowTableStats;
use crate::pipeline::RunStats;

/// Append one `stats` event line to `buf`.
pub fn write_stats_event(buf: &mut Vec<u8>, stats: &RunStats) {
    let ts = stats.last_ts.unwrap_or_else(now);
    super::write_line(buf, &StatsEvent::new(stats, ts));
}

/// Append one `stats` event line stamped `ts` (the service's periodic
/// stats carry the wall-clock time they were taken).
pub fn write_stats_event_at(buf: &mut Vec<u8>, stats: &RunStats, ts: Timestamp) {
    super::write_line(buf, &StatsEvent::new(stats, ts));
}

/// The wall clock, for a run that saw no frame.
fn now() -> Timestamp {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => Timestamp::from_secs_nanos(
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(_) => Timestamp::ZERO,
    }
}

#[derive(Serialize)]
struct StatsEvent<'a> {
    timestamp: Rfc3339,
    event_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sensor: Option<SensorPart<'a>>,
    stats: StatsPart<'a>,
}

#[derive(Serialize)]
struct SensorPart<'a> {
    name: &'a str,
}

impl<'a> StatsEvent<'a> {
    fn new(s: &'a RunStats, ts: Timestamp) -> StatsEvent<'a> {
        StatsEvent {
            timestamp: Rfc3339(ts),
            event_type: "stats",
            sensor: s.sensor.as_deref().map(|name| SensorPart { name }),
            stats: StatsPart {
                capture: CapturePart::new(&s.capture),
                decoder: DecoderPart { d: &s.decode },
                flow: FlowPart::new(&s.flows),
                events: s.events,
                enrichment: s.enrichment.as_ref().map(|e| EnrichmentPart {
                    databases: &e.databases,
                    cache: CachePart {
                        hits: e.cache.hits,
                        misses: e.cache.misses,
                        evicted: e.cache.evicted,
                    },
                }),
                detect: s.detect.as_ref().map(DetectPart::new),
            },
        }
    }
}

#[derive(Serialize)]
struct StatsPart<'a> {
    capture: CapturePart,
    decoder: DecoderPart<'a>,
    flow: FlowPart,
    events: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    enrichment: Option<EnrichmentPart<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detect: Option<DetectPart>,
}

/// `stats.detect`: sessions judged, alerts written and deduplicated, and
/// findings and alerts per rule (every rule named, zeros included).
#[derive(Serialize)]
struct DetectPart {
    sessions: u64,
    sessions_with_findings: u64,
    alerts: u64,
    suppressed: u64,
    findings: std::collections::BTreeMap<&'static str, u64>,
    alerts_by_rule: std::collections::BTreeMap<&'static str, u64>,
}

impl DetectPart {
    fn new(d: &crate::detect::DetectStats) -> DetectPart {
        let by_rule = |counts: &[u64; 10]| {
            crate::detect::RuleId::ALL
                .iter()
                .zip(counts)
                .map(|(r, &n)| (r.as_str(), n))
                .collect()
        };
        DetectPart {
            sessions: d.sessions,
            sessions_with_findings: d.sessions_with_findings,
            alerts: d.alerts,
            suppressed: d.suppressed,
            findings: by_rule(&d.findings),
            alerts_by_rule: by_rule(&d.alerts_by_rule),
        }
    }
}

#[derive(Serialize)]
struct EnrichmentPart<'a> {
    databases: &'a [crate::enrich::geoip::DatabaseSummary],
    cache: CachePart,
}

#[derive(Serialize)]
struct CachePart {
    hits: u64,
    misses: u64,
    evicted: u64,
}

#[derive(Serialize)]
struct CapturePart {
    frames: u64,
    bytes: u64,
    kernel_drops: u64,
    interface_drops: u64,
}

impl CapturePart {
    fn new(c: &SourceStats) -> CapturePart {
        CapturePart {
            frames: c.frames,
            bytes: c.bytes,
            kernel_drops: c.kernel_drops,
            interface_drops: c.interface_drops,
        }
    }
}

struct DecoderPart<'a> {
    d: &'a DecodeCounters,
}

impl Serialize for DecoderPart<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("decoder", 4)?;
        st.serialize_field("packets", &self.d.packets)?;
        st.serialize_field("non_ip", &self.d.non_ip)?;
        st.serialize_field("fragments_held", &self.d.fragments_held)?;
        st.serialize_field("errors", &Errors(&self.d.errors))?;
        st.end()
    }
}

/// The decode errors as `[{layer, reason, count}]`, in (layer, reason) order.
struct Errors<'a>(&'a std::collections::BTreeMap<(Layer, &'static str), u64>);

impl Serialize for Errors<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|(&(layer, reason), &count)| ErrorPart {
            layer: layer.as_str(),
            reason,
            count,
        }))
    }
}

#[derive(Serialize)]
struct ErrorPart {
    layer: &'static str,
    reason: &'static str,
    count: u64,
}

#[derive(Serialize)]
struct FlowPart {
    active: u64,
    peak_active: u64,
    created: u64,
    closed: u64,
    timed_out: u64,
    evicted: u64,
    midstream: u64,
    reassembly_bytes: u64,
    reassembly_memcap_hits: u64,
}

impl FlowPart {
    fn new(f: &FlowTableStats) -> FlowPart {
        FlowPart {
            active: f.active,
            peak_active: f.peak_active,
            created: f.created,
            closed: f.closed,
            timed_out: f.timed_out,
            evicted: f.evicted,
            midstream: f.midstream,
            reassembly_bytes: f.reassembly_bytes,
            reassembly_memcap_hits: f.reassembly_memcap_hits,
        }
    }
}
