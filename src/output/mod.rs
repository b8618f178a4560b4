//! Events as JSON lines, with field names compatible with Suricata's EVE
//! JSON. See `docs/events.md` for every field and `schema/` for the JSON
//! Schemas that the tests validate each emitted line against.
//!
//! The `flow` event, one per flow, is written by hand ([`flow_json`]) for
//! speed; the rare `stats` event is a borrowed `#[derive(Serialize)]` struct
//! written straight into the caller's buffer by `serde_json`. Either way
//! there is no intermediate `Value` and no allocation beyond the line
//! itself. Optional parts are left out rather than written as `null`, as
//! Suricata does.

use std::net::IpAddr;

use serde::Serialize;

use crate::capture::Timestamp;
use crate::decode::ip_proto;
use crate::flow::FlowSummary;
use crate::site::SiteNetworks;

pub mod alert_json;
pub mod app_json;
pub mod community_id;
mod flow_json;
#[cfg(test)]
mod serde_reference;
pub mod sink;
pub mod stats;
pub mod time;

/// Validation of emitted lines against `schema/*.json` (used by the tests).
pub mod schema_check;

/// The Community ID seed (0, the spec's and Suricata's default).
pub const COMMUNITY_ID_SEED: u16 = 0;

/// Append one `flow` event (a JSON object and `\n`) to `buf`.
pub fn write_flow_event(buf: &mut Vec<u8>, flow: &FlowSummary, site: &SiteNetworks) {
    flow_json::write_flow_event(buf, flow, site, None);
}

/// The far end of a flow and what the enrichment sources say about it.
#[derive(Debug, Clone, Copy)]
pub struct Remote<'a> {
    pub ip: IpAddr,
    pub info: &'a crate::enrich::RemoteInfo,
}

/// Append one `flow` event with the far end's `geo` and `labels`.
pub fn write_flow_event_enriched(
    buf: &mut Vec<u8>,
    flow: &FlowSummary,
    site: &SiteNetworks,
    remote: Option<Remote<'_>>,
) {
    flow_json::write_flow_event(buf, flow, site, remote);
}

/// Serialise `event` and a newline; on the (impossible for a `Vec`) error,
/// leave `buf` as it was rather than with half a line.
fn write_line<T: Serialize>(buf: &mut Vec<u8>, event: &T) {
    let start = buf.len();
    if serde_json::to_writer(&mut *buf, event).is_err() {
        buf.truncate(start);
        return;
    }
    buf.push(b'\n');
}

/// Suricata's name of an IP protocol (`None`: it writes the number).
fn proto_name(proto: u8) -> Option<&'static str> {
    Some(match proto {
        ip_proto::ICMP => "ICMP",
        2 => "IGMP",
        ip_proto::TCP => "TCP",
        ip_proto::UDP => "UDP",
        ip_proto::GRE => "GRE",
        ip_proto::ESP => "ESP",
        ip_proto::AH => "AH",
        ip_proto::ICMPV6 => "IPv6-ICMP",
        ip_proto::SCTP => "SCTP",
        _ => return None,
    })
}

/// Does the protocol carry ports (which Suricata then logs)?
fn has_ports(proto: u8) -> bool {
    matches!(proto, ip_proto::TCP | ip_proto::UDP | ip_proto::SCTP)
}

/// Suricata's `age`: whole seconds between the start's and the end's second
/// fields (not rounded), never negative.
fn flow_age(start: Timestamp, end: Timestamp) -> i64 {
    end.secs().saturating_sub(start.secs()).max(0)
}

/// Nanoseconds as milliseconds, rounded to the microsecond (capture clocks
/// rarely resolve better, and shorter numbers read better).
fn ns_to_ms(ns: u64) -> f64 {
    let micros = ns.saturating_add(500) / 1_000;
    micros as f64 / 1_000.0
}

#[cfg(test)]
mod tests;
