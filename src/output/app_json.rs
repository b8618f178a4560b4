//! The application parts of the events (`app_proto`, `tls`, `ssh`, `rdp`,
//! ...), and the two events built on them: `session`, for a flow that is a
//! remote-access session, and `anomaly`, one per protocol oddity.
//!
//! These strings come from the wire, so unlike the rest of the flow event
//! they go through `serde_json`, which escapes them. They are written once
//! per flow that has them, never per packet.

use serde::Serialize;

use super::community_id::flow_community_id;
use super::time::format_rfc3339;
use super::{has_ports, ns_to_ms, proto_name, write_line, Remote, COMMUNITY_ID_SEED};
use crate::flow::FlowSummary;
use crate::proto::app::{Anomaly, AppRtt};
use crate::proto::{AppSummary, RemoteAccess};
use crate::site::SiteNetworks;

/// `,"app_proto":"tls"`, written after `direction` in the flow event.
pub(super) fn app_proto_field(buf: &mut Vec<u8>, app: &AppSummary) {
    if let Some(p) = app.app_proto {
        buf.extend_from_slice(b",\"app_proto\":\"");
        buf.extend_from_slice(p.name().as_bytes());
        buf.push(b'"');
    }
}

/// The protocol objects and `app_rtt`, each as `,"name":{...}`.
pub(super) fn app_objects(buf: &mut Vec<u8>, app: &AppSummary) {
    if !app.remote_names.is_empty() {
        object(buf, "remote_names", Some(&app.remote_names));
    }
    object(buf, "tls", app.tls.as_ref());
    object(buf, "ssh", app.ssh.as_ref());
    object(buf, "rdp", app.rdp.as_ref());
    object(buf, "vnc", app.vnc.as_ref());
    object(buf, "http", app.http.as_ref());
    object(buf, "dns", app.dns.as_ref());
    object(buf, "dhcp", app.dhcp.as_ref());
    object(buf, "vpn", app.vpn.as_ref());
    object(buf, "socks", app.socks.as_ref());
    object(buf, "quic", app.quic.as_ref());
    if !app.app_rtt.is_empty() {
        object(buf, "app_rtt", Some(&RttJson::from(&app.app_rtt)));
    }
}

/// `,"name":` and the serialised value; nothing at all on error.
fn object<T: Serialize>(buf: &mut Vec<u8>, name: &str, value: Option<&T>) {
    let Some(v) = value else { return };
    let start = buf.len();
    buf.extend_from_slice(b",\"");
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b"\":");
    if serde_json::to_writer(&mut *buf, v).is_err() {
        buf.truncate(start);
    }
}

/// `app_rtt` in milliseconds, as the TCP round trips are written.
#[derive(Serialize)]
struct RttJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    client_reply_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_reply_ms: Option<f64>,
    samples: u32,
}

impl From<&AppRtt> for RttJson {
    fn from(r: &AppRtt) -> Self {
        RttJson {
            client_reply_ms: r.client_reply_ns.map(ns_to_ms),
            server_reply_ms: r.server_reply_ns.map(ns_to_ms),
            samples: r.samples,
        }
    }
}

/// Is this flow a remote-access session (it gets a `session` event)?
pub fn is_session(app: &AppSummary) -> bool {
    app.remote_access.is_some()
}

/// The top-level fields every event about a flow carries.
#[derive(Serialize)]
struct FlowHead<'a> {
    timestamp: String,
    flow_id: u64,
    event_type: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    vlan: Vec<u16>,
    src_ip: std::net::IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_port: Option<u16>,
    dest_ip: std::net::IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    dest_port: Option<u16>,
    proto: std::borrow::Cow<'static, str>,
    community_id: String,
    direction: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_proto: Option<&'static str>,
}

fn head<'a>(
    flow: &FlowSummary,
    site: &'a SiteNetworks,
    event_type: &'static str,
    ts: crate::capture::Timestamp,
) -> FlowHead<'a> {
    let ep = &flow.endpoints;
    let ports = has_ports(ep.ip_proto);
    let timestamp = String::from_utf8_lossy(&format_rfc3339(ts)).into_owned();
    FlowHead {
        timestamp,
        flow_id: flow.flow_id,
        event_type,
        vlan: ep.vlan.iter().copied().filter(|&v| v != 0).collect(),
        src_ip: ep.src_ip,
        src_port: ports.then_some(ep.src_port),
        dest_ip: ep.dst_ip,
        dest_port: ports.then_some(ep.dst_port),
        proto: match proto_name(ep.ip_proto) {
            Some(n) => n.into(),
            None => ep.ip_proto.to_string().into(),
        },
        community_id: flow_community_id(ep, COMMUNITY_ID_SEED).as_str().to_owned(),
        direction: site.direction(ep.src_ip, ep.dst_ip).as_str(),
        app_proto: flow
            .app
            .as_ref()
            .and_then(|a| a.app_proto)
            .map(|p| p.name()),
    }
}

/// Append the `session` event of a flow that is a remote-access session
/// (nothing otherwise): the flow event's own writer with another
/// `event_type` and `remote_access`, so both events always agree.
pub fn write_session_event(
    buf: &mut Vec<u8>,
    flow: &FlowSummary,
    site: &SiteNetworks,
    remote: Option<Remote<'_>>,
) {
    let Some(ra) = flow.app.as_deref().and_then(|a| a.remote_access.as_ref()) else {
        return;
    };
    super::flow_json::write_event(buf, b"session", flow, site, remote, Some(ra));
}

/// `,"remote_access":{...}`.
pub(super) fn remote_access_field(buf: &mut Vec<u8>, ra: &RemoteAccess) {
    object(buf, "remote_access", Some(ra));
}

#[derive(Serialize)]
struct AnomalyEvent<'a> {
    #[serde(flatten)]
    head: FlowHead<'a>,
    anomaly: &'a Anomaly,
    /// Anomalies of the flow beyond the cap, counted (on the last event).
    #[serde(skip_serializing_if = "Option::is_none")]
    dropped: Option<u32>,
}

/// Append one `anomaly` event per anomaly the flow kept, each stamped with
/// the capture time of the packet that showed it.
pub fn write_anomaly_events(buf: &mut Vec<u8>, flow: &FlowSummary, site: &SiteNetworks) {
    let Some(app) = flow.app.as_deref() else {
        return;
    };
    let n = app.anomalies.kept.len();
    for (i, a) in app.anomalies.kept.iter().enumerate() {
        let last = i + 1 == n;
        let ev = AnomalyEvent {
            head: head(flow, site, "anomaly", a.ts),
            anomaly: a,
            dropped: (last && app.anomalies.dropped > 0).then_some(app.anomalies.dropped),
        };
        write_line(buf, &ev);
    }
}
