//! Event formats: native (the engine's EVE-compatible line as is), Elastic
//! Common Schema and OCSF. The mapping is documented in docs/outputs.md;
//! everything without a home in the target schema is kept under
//! `gatewatch` (ECS custom field set, ECS "Custom fields" guideline) or
//! `unmapped` (OCSF base event attribute), so nothing is lost.
//!
//! Conversions work on a parsed `serde_json::Value`; they run on the output
//! runtime, never on the capture path.

use serde_json::{json, Map, Value};

use super::config::Format;

/// The OCSF schema version the events claim.
pub const OCSF_VERSION: &str = "1.3.0";
/// The ECS version the events claim.
pub const ECS_VERSION: &str = "8.11.0";

/// OCSF class UIDs (OCSF 1.3 schema, category 4 Network Activity and 2 Findings).
pub mod ocsf_class {
    pub const BASE_EVENT: u32 = 0;
    pub const DETECTION_FINDING: u32 = 2004;
    pub const NETWORK_ACTIVITY: u32 = 4001;
    pub const RDP_ACTIVITY: u32 = 4005;
    pub const SSH_ACTIVITY: u32 = 4007;
}

/// OCSF activity IDs used (Network Activity family; RDP's 6 is Traffic too).
mod ocsf_activity {
    pub const CREATE: u32 = 1;
    pub const CLOSE: u32 = 2;
    pub const RESET: u32 = 3;
    pub const TRAFFIC: u32 = 6;
    pub const OTHER: u32 = 99;
}

/// OCSF fingerprint `algorithm_id` for MD5 (JA3, JA3S and HASSH are MD5).
const OCSF_FP_MD5: u32 = 1;

/// Rewrite one native event into `format` (native is returned unchanged).
pub fn convert(format: Format, event: Value) -> Value {
    match format {
        Format::Native => event,
        Format::Ecs => to_ecs(event),
        Format::Ocsf => to_ocsf(event),
    }
}

/// Insert `v` at a dotted path, creating objects on the way.
fn put(root: &mut Map<String, Value>, path: &str, v: Value) {
    let mut cur = root;
    let mut parts = path.split('.').peekable();
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(p.to_owned(), v);
            return;
        }
        let slot = cur
            .entry(p.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else { return };
        cur = next;
    }
}

fn put_opt(root: &mut Map<String, Value>, path: &str, v: Option<Value>) {
    if let Some(v) = v.filter(|v| !v.is_null()) {
        put(root, path, v);
    }
}

fn field(v: &Value, path: &str) -> Option<Value> {
    path.split('.').try_fold(v, |cur, k| cur.get(k)).cloned()
}

fn u64_at(v: &Value, path: &str) -> Option<u64> {
    field(v, path).and_then(|x| x.as_u64())
}

/// Which end (`source`/`destination`) the `geo` object describes.
fn geo_side(ev: &Value) -> Option<&'static str> {
    let ip = ev.get("geo")?.get("ip")?.as_str()?;
    if ev.get("dest_ip").and_then(Value::as_str) == Some(ip) {
        Some("destination")
    } else if ev.get("src_ip").and_then(Value::as_str) == Some(ip) {
        Some("source")
    } else {
        None
    }
}

/// The user name an event carries (the RDP cookie's `mstshash` user, RFC
/// none: MS-RDPBCGR §2.2.1.1 routingToken/cookie), if any.
fn user_name(ev: &Value) -> Option<Value> {
    ["rdp.cookie", "rdp.user", "ssh.user", "user"]
        .iter()
        .find_map(|p| field(ev, p).filter(Value::is_string))
}

// ---------------------------------------------------------------- ECS ----

/// ECS 8.x: https://www.elastic.co/guide/en/ecs/current/ (field reference).
fn to_ecs(ev: Value) -> Value {
    let mut out = Map::new();
    let et = ev
        .get("event_type")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned();
    put_opt(&mut out, "@timestamp", field(&ev, "timestamp"));
    put(&mut out, "ecs.version", json!(ECS_VERSION));
    let (kind, category, types): (&str, &[&str], &[&str]) = match et.as_str() {
        "flow" => ("event", &["network"], &["connection", "end"]),
        "session" => ("event", &["network", "session"], &["connection", "info"]),
        "anomaly" => ("event", &["network"], &["protocol", "info"]),
        "alert" => ("alert", &["intrusion_detection", "network"], &["info"]),
        "stats" => ("metric", &["host"], &["info"]),
        _ => ("event", &["network"], &["info"]),
    };
    put(&mut out, "event.kind", json!(kind));
    put(&mut out, "event.category", json!(category));
    put(&mut out, "event.type", json!(types));
    put(&mut out, "event.module", json!("gatewatch"));
    put(&mut out, "event.dataset", json!(format!("gatewatch.{et}")));
    put_opt(&mut out, "event.start", field(&ev, "flow.start"));
    put_opt(&mut out, "event.end", field(&ev, "flow.end"));
    if let (Some(s), Some(e)) = (
        field(&ev, "flow.start").and_then(|v| v.as_str().and_then(rfc3339_to_ns)),
        field(&ev, "flow.end").and_then(|v| v.as_str().and_then(rfc3339_to_ns)),
    ) {
        put(&mut out, "event.duration", json!(e.saturating_sub(s)));
    }
    put_opt(&mut out, "source.ip", field(&ev, "src_ip"));
    put_opt(&mut out, "source.port", field(&ev, "src_port"));
    put_opt(&mut out, "destination.ip", field(&ev, "dest_ip"));
    put_opt(&mut out, "destination.port", field(&ev, "dest_port"));
    put_opt(&mut out, "source.packets", field(&ev, "flow.pkts_toserver"));
    put_opt(&mut out, "source.bytes", field(&ev, "flow.bytes_toserver"));
    put_opt(
        &mut out,
        "destination.packets",
        field(&ev, "flow.pkts_toclient"),
    );
    put_opt(
        &mut out,
        "destination.bytes",
        field(&ev, "flow.bytes_toclient"),
    );
    if let (Some(a), Some(b)) = (
        u64_at(&ev, "flow.bytes_toserver"),
        u64_at(&ev, "flow.bytes_toclient"),
    ) {
        put(&mut out, "network.bytes", json!(a.saturating_add(b)));
    }
    if let (Some(a), Some(b)) = (
        u64_at(&ev, "flow.pkts_toserver"),
        u64_at(&ev, "flow.pkts_toclient"),
    ) {
        put(&mut out, "network.packets", json!(a.saturating_add(b)));
    }
    put_opt(
        &mut out,
        "network.transport",
        field(&ev, "proto").and_then(|p| p.as_str().map(|s| json!(s.to_ascii_lowercase()))),
    );
    put_opt(&mut out, "network.type", ip_version(&ev).map(|v| json!(v)));
    put_opt(&mut out, "network.community_id", field(&ev, "community_id"));
    put_opt(&mut out, "network.direction", field(&ev, "direction"));
    put_opt(&mut out, "network.protocol", field(&ev, "app_proto"));
    put_opt(&mut out, "tls.client.ja3", field(&ev, "tls.ja3"));
    put_opt(&mut out, "tls.server.ja3s", field(&ev, "tls.ja3s"));
    put_opt(&mut out, "tls.client.server_name", field(&ev, "tls.sni"));
    put_opt(&mut out, "tls.version", field(&ev, "tls.version"));
    put_opt(&mut out, "user.name", user_name(&ev));
    if let Some(side) = geo_side(&ev) {
        let g = |k: &str| field(&ev, &format!("geo.{k}"));
        put_opt(
            &mut out,
            &format!("{side}.geo.country_iso_code"),
            g("country_iso"),
        );
        put_opt(&mut out, &format!("{side}.geo.country_name"), g("country"));
        put_opt(&mut out, &format!("{side}.geo.city_name"), g("city"));
        put_opt(
            &mut out,
            &format!("{side}.geo.region_name"),
            g("subdivision"),
        );
        put_opt(&mut out, &format!("{side}.geo.timezone"), g("time_zone"));
        if let (Some(lat), Some(lon)) = (g("lat"), g("lon")) {
            put(
                &mut out,
                &format!("{side}.geo.location"),
                json!({"lat": lat, "lon": lon}),
            );
        }
        put_opt(&mut out, &format!("{side}.as.number"), g("asn"));
        put_opt(
            &mut out,
            &format!("{side}.as.organization.name"),
            g("as_org"),
        );
    }
    // gatewatch's own alerts: the rule id is the rule's name and id.
    put_opt(&mut out, "rule.name", field(&ev, "alert.rule"));
    put_opt(&mut out, "rule.id", field(&ev, "alert.rule"));
    put_opt(&mut out, "event.reason", field(&ev, "alert.reason"));
    put_opt(&mut out, "event.risk_score", field(&ev, "alert.score"));
    put_opt(
        &mut out,
        "event.severity",
        field(&ev, "alert.severity")
            .and_then(|s| s.as_str().map(str::to_owned))
            .and_then(|s| severity_number(&s))
            .map(|n| json!(n)),
    );
    put_opt(&mut out, "user.name", field(&ev, "identity.name"));
    // Everything else stays under the custom `gatewatch` field set.
    let mut rest = match ev {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    for k in [
        "timestamp",
        "src_ip",
        "src_port",
        "dest_ip",
        "dest_port",
        "proto",
        "community_id",
        "direction",
    ] {
        rest.remove(k);
    }
    out.insert("gatewatch".into(), Value::Object(rest));
    Value::Object(out)
}

/// ECS `event.severity` for our severities (Elastic's risk-score bands:
/// low 21, medium 47, high 73, critical 99).
fn severity_number(s: &str) -> Option<u64> {
    Some(match s {
        "low" => 21,
        "medium" => 47,
        "high" => 73,
        "critical" => 99,
        _ => return None,
    })
}

fn ip_version(ev: &Value) -> Option<&'static str> {
    let ip = ev.get("src_ip")?.as_str()?;
    Some(if ip.contains(':') { "ipv6" } else { "ipv4" })
}

// --------------------------------------------------------------- OCSF ----

/// OCSF 1.3: https://schema.ocsf.io/1.3.0/ (classes 4001, 4005, 4007, 2004).
fn to_ocsf(ev: Value) -> Value {
    let et = ev
        .get("event_type")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned();
    let app = ev.get("app_proto").and_then(Value::as_str).unwrap_or("");
    let class = match (et.as_str(), app) {
        ("alert", _) => ocsf_class::DETECTION_FINDING,
        ("stats", _) => ocsf_class::BASE_EVENT,
        ("session", "ssh") => ocsf_class::SSH_ACTIVITY,
        ("session", "rdp") => ocsf_class::RDP_ACTIVITY,
        _ => ocsf_class::NETWORK_ACTIVITY,
    };
    let activity = match (et.as_str(), class) {
        ("alert", _) => ocsf_activity::CREATE,
        ("anomaly", _) | ("stats", _) => ocsf_activity::OTHER,
        ("flow", _) if field(&ev, "tcp.rst") == Some(json!(true)) => ocsf_activity::RESET,
        ("flow", _) => ocsf_activity::CLOSE,
        _ => ocsf_activity::TRAFFIC,
    };
    let mut out = Map::new();
    out.insert("class_uid".into(), json!(class));
    out.insert("category_uid".into(), json!(class / 1000));
    out.insert("activity_id".into(), json!(activity));
    out.insert(
        "type_uid".into(),
        json!(u64::from(class) * 100 + u64::from(activity)),
    );
    // OCSF severity_id: 2 Low, 3 Medium, 4 High, 5 Critical.
    let severity = match (
        et.as_str(),
        field(&ev, "alert.severity")
            .as_ref()
            .and_then(Value::as_str),
    ) {
        ("alert", Some("critical")) => 5,
        ("alert", Some("high")) => 4,
        ("alert", Some("medium")) => 3,
        ("alert", _) => 2,
        _ => 1,
    };
    out.insert("severity_id".into(), json!(severity));
    if let Some(t) = field(&ev, "timestamp").and_then(|t| t.as_str().and_then(rfc3339_to_ns)) {
        out.insert("time".into(), json!(t / 1_000_000));
    }
    put(&mut out, "metadata.version", json!(OCSF_VERSION));
    put(&mut out, "metadata.product.name", json!("gatewatch"));
    put(&mut out, "metadata.product.vendor_name", json!("gatewatch"));
    put(
        &mut out,
        "metadata.product.version",
        json!(env!("CARGO_PKG_VERSION")),
    );
    put(&mut out, "metadata.log_name", json!(et));
    let net = ocsf_network(&ev);
    if class == ocsf_class::DETECTION_FINDING {
        put_opt(&mut out, "finding_info.title", field(&ev, "alert.rule"));
        put_opt(&mut out, "finding_info.desc", field(&ev, "alert.reason"));
        let rule = field(&ev, "alert.rule")
            .and_then(|r| r.as_str().map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned());
        let flow = field(&ev, "flow_id").map_or_else(String::new, |f| f.to_string());
        put(
            &mut out,
            "finding_info.uid",
            json!(format!("{flow}:{rule}")),
        );
        let types: Vec<Value> = field(&ev, "alert.findings")
            .and_then(|f| f.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|f| f.get("rule").cloned())
            .collect();
        put(&mut out, "finding_info.types", json!(types));
        put_opt(&mut out, "risk_score", field(&ev, "alert.score"));
        out.insert("evidences".into(), json!([Value::Object(net)]));
    } else if class != ocsf_class::BASE_EVENT {
        out.extend(net);
    }
    match class {
        ocsf_class::SSH_ACTIVITY => {
            put_opt(
                &mut out,
                "client_hassh.fingerprint.value",
                field(&ev, "ssh.hassh"),
            );
            put_opt(
                &mut out,
                "server_hassh.fingerprint.value",
                field(&ev, "ssh.hassh_server"),
            );
            for side in ["client_hassh", "server_hassh"] {
                if out.contains_key(side) {
                    put(
                        &mut out,
                        &format!("{side}.fingerprint.algorithm_id"),
                        json!(OCSF_FP_MD5),
                    );
                }
            }
        }
        ocsf_class::RDP_ACTIVITY => {
            put_opt(&mut out, "identifier_cookie", field(&ev, "rdp.cookie"));
        }
        _ => {}
    }
    put_opt(&mut out, "actor.user.name", user_name(&ev));
    out.insert("unmapped".into(), ev);
    Value::Object(out)
}

/// Endpoints, connection info, traffic and TLS of a network event.
fn ocsf_network(ev: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    put_opt(&mut out, "src_endpoint.ip", field(ev, "src_ip"));
    put_opt(&mut out, "src_endpoint.port", field(ev, "src_port"));
    put_opt(&mut out, "dst_endpoint.ip", field(ev, "dest_ip"));
    put_opt(&mut out, "dst_endpoint.port", field(ev, "dest_port"));
    if let Some(side) = geo_side(ev) {
        let ep = if side == "source" {
            "src_endpoint"
        } else {
            "dst_endpoint"
        };
        let g = |k: &str| field(ev, &format!("geo.{k}"));
        put_opt(
            &mut out,
            &format!("{ep}.location.country"),
            g("country_iso"),
        );
        put_opt(&mut out, &format!("{ep}.location.city"), g("city"));
        put_opt(&mut out, &format!("{ep}.location.region"), g("subdivision"));
        put_opt(&mut out, &format!("{ep}.location.lat"), g("lat"));
        put_opt(&mut out, &format!("{ep}.location.long"), g("lon"));
        put_opt(
            &mut out,
            &format!("{ep}.autonomous_system.number"),
            g("asn"),
        );
        put_opt(
            &mut out,
            &format!("{ep}.autonomous_system.name"),
            g("as_org"),
        );
    }
    if let Some(p) = field(ev, "proto").and_then(|p| p.as_str().map(str::to_ascii_lowercase)) {
        put(&mut out, "connection_info.protocol_name", json!(p));
        let num = match p.as_str() {
            "icmp" => Some(1),
            "tcp" => Some(6),
            "udp" => Some(17),
            "ipv6-icmp" => Some(58),
            "sctp" => Some(132),
            other => other.parse::<u8>().ok(),
        };
        put_opt(
            &mut out,
            "connection_info.protocol_num",
            num.map(|n| json!(n)),
        );
    }
    put_opt(
        &mut out,
        "connection_info.community_uid",
        field(ev, "community_id"),
    );
    put_opt(
        &mut out,
        "connection_info.uid",
        field(ev, "flow_id").map(|v| json!(v.to_string())),
    );
    if let Some(d) = field(ev, "direction").and_then(|d| d.as_str().map(str::to_owned)) {
        // OCSF direction_id: 1 Inbound, 2 Outbound, 3 Lateral, 0 Unknown.
        let id = match d.as_str() {
            "inbound" => 1,
            "outbound" => 2,
            "internal" => 3,
            _ => 0,
        };
        put(&mut out, "connection_info.direction_id", json!(id));
    }
    // OCSF: "out" is source to destination.
    put_opt(
        &mut out,
        "traffic.bytes_out",
        field(ev, "flow.bytes_toserver"),
    );
    put_opt(
        &mut out,
        "traffic.bytes_in",
        field(ev, "flow.bytes_toclient"),
    );
    put_opt(
        &mut out,
        "traffic.packets_out",
        field(ev, "flow.pkts_toserver"),
    );
    put_opt(
        &mut out,
        "traffic.packets_in",
        field(ev, "flow.pkts_toclient"),
    );
    if let (Some(s), Some(e)) = (
        field(ev, "flow.start").and_then(|v| v.as_str().and_then(rfc3339_to_ns)),
        field(ev, "flow.end").and_then(|v| v.as_str().and_then(rfc3339_to_ns)),
    ) {
        put(&mut out, "start_time", json!(s / 1_000_000));
        put(&mut out, "end_time", json!(e / 1_000_000));
        put(&mut out, "duration", json!(e.saturating_sub(s) / 1_000_000));
    }
    put_opt(&mut out, "tls.sni", field(ev, "tls.sni"));
    put_opt(&mut out, "tls.version", field(ev, "tls.version"));
    for (src, dst) in [("tls.ja3", "tls.ja3_hash"), ("tls.ja3s", "tls.ja3s_hash")] {
        if let Some(v) = field(ev, src) {
            put(
                &mut out,
                dst,
                json!({"algorithm_id": OCSF_FP_MD5, "value": v}),
            );
        }
    }
    out
}

/// Nanoseconds since the epoch of an RFC 3339 UTC time
/// (`2023-08-23T21:20:48.335892Z`, RFC 3339 §5.6), `None` if malformed.
pub fn rfc3339_to_ns(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = b.get(r)?;
        if d.is_empty() || !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(d).ok()?.parse().ok()
    };
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || b.get(13) != Some(&b':') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut nanos = 0i64;
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let mut digits = 0;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if digits < 9 {
                nanos = nanos * 10 + i64::from(c - b'0');
                digits += 1;
            }
            i += 1;
        }
        for _ in digits..9 {
            nanos *= 10;
        }
    }
    if b.get(i..) != Some(&b"Z"[..]) {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec;
    u64::try_from(secs.checked_mul(1_000_000_000)?.checked_add(nanos)?).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil` algorithm, public-domain description).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flow event of docs/events.md (suricata-verify community-id-ipv4).
    const FLOW: &str = r#"{"timestamp":"2023-08-23T21:20:48.436021Z","flow_id":1234567890123,"event_type":"flow","src_ip":"172.26.0.39","src_port":35958,"dest_ip":"172.217.14.206","dest_port":443,"proto":"TCP","community_id":"1:0rRFlkfZsYZ0l7PqLoMEAxHMqrI=","direction":"outbound","app_proto":"tls","flow":{"pkts_toserver":24,"pkts_toclient":19,"bytes_toserver":2424,"bytes_toclient":28588,"start":"2023-08-23T21:20:48.335892Z","end":"2023-08-23T21:20:48.436021Z","age":0,"state":"closed","reason":"closed"},"tls":{"sni":"www.google.com","ja3":"e7eca2baf4458d095b7f45da28c16c34"},"geo":{"ip":"172.217.14.206","country_iso":"US","lat":37.751,"lon":-97.822,"asn":15169}}"#;

    #[test]
    fn rfc3339_parse_matches_date_utility() {
        // `date -u -d 2023-08-23T21:20:48Z +%s` = 1692825648.
        assert_eq!(
            rfc3339_to_ns("2023-08-23T21:20:48Z"),
            Some(1_692_825_648_000_000_000)
        );
        assert_eq!(
            rfc3339_to_ns("2023-08-23T21:20:48.335892Z"),
            Some(1_692_825_648_335_892_000)
        );
        assert_eq!(rfc3339_to_ns("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_to_ns("2023-08-23T21:20:48+02:00"), None);
        assert_eq!(rfc3339_to_ns("2023-13-23T21:20:48Z"), None);
        assert_eq!(rfc3339_to_ns(""), None);
    }

    #[test]
    fn ecs_maps_flow_fields() {
        let v = to_ecs(serde_json::from_str(FLOW).expect("json"));
        assert_eq!(v["@timestamp"], "2023-08-23T21:20:48.436021Z");
        assert_eq!(v["event"]["kind"], "event");
        assert_eq!(v["event"]["category"], json!(["network"]));
        assert_eq!(v["event"]["duration"], 100_129_000u64);
        assert_eq!(v["source"]["ip"], "172.26.0.39");
        assert_eq!(v["destination"]["port"], 443);
        assert_eq!(v["network"]["transport"], "tcp");
        assert_eq!(v["network"]["type"], "ipv4");
        assert_eq!(v["network"]["bytes"], 2424 + 28588);
        assert_eq!(
            v["network"]["community_id"],
            "1:0rRFlkfZsYZ0l7PqLoMEAxHMqrI="
        );
        assert_eq!(
            v["tls"]["client"]["ja3"],
            "e7eca2baf4458d095b7f45da28c16c34"
        );
        assert_eq!(v["tls"]["client"]["server_name"], "www.google.com");
        assert_eq!(v["destination"]["geo"]["location"]["lon"], -97.822);
        assert_eq!(v["destination"]["as"]["number"], 15169);
        assert_eq!(v["gatewatch"]["flow_id"], 1234567890123u64);
    }

    #[test]
    fn ocsf_classes_and_network_fields() {
        let v = to_ocsf(serde_json::from_str(FLOW).expect("json"));
        assert_eq!(v["class_uid"], 4001);
        assert_eq!(v["category_uid"], 4);
        assert_eq!(v["type_uid"], 400102);
        assert_eq!(v["time"], 1_692_825_648_436u64);
        assert_eq!(v["traffic"]["bytes_out"], 2424);
        assert_eq!(v["connection_info"]["protocol_num"], 6);
        assert_eq!(v["connection_info"]["direction_id"], 2);
        assert_eq!(
            v["tls"]["ja3_hash"]["value"],
            "e7eca2baf4458d095b7f45da28c16c34"
        );
        assert_eq!(v["dst_endpoint"]["location"]["long"], -97.822);

        let ssh = json!({"event_type":"session","app_proto":"ssh","timestamp":"2023-08-23T21:20:48Z",
            "ssh":{"hassh":"ec7378c1a92f5a8dde7e8b7a1ddf33d1","interactive":true,"activity":"interactive"}});
        let v = to_ocsf(ssh);
        assert_eq!(v["class_uid"], 4007);
        assert_eq!(v["type_uid"], 400706);
        assert_eq!(v["client_hassh"]["fingerprint"]["algorithm_id"], 1);

        let rdp = json!({"event_type":"session","app_proto":"rdp","rdp":{"cookie":"alice"}});
        let v = to_ocsf(rdp);
        assert_eq!(v["class_uid"], 4005);
        assert_eq!(v["identifier_cookie"], "alice");
        assert_eq!(v["actor"]["user"]["name"], "alice");

        let alert = json!({"event_type":"alert","flow_id":7,"alert":{"rule":"anonymizer_exit","severity":"high","score":50,"reason":"RDP from a VPN exit","findings":[{"rule":"anonymizer_exit"},{"rule":"unexpected_geography"}]}});
        let v = to_ocsf(alert);
        assert_eq!(v["class_uid"], 2004);
        assert_eq!(v["severity_id"], 4);
        assert_eq!(v["finding_info"]["uid"], "7:anonymizer_exit");
        assert_eq!(
            v["finding_info"]["types"],
            json!(["anonymizer_exit", "unexpected_geography"])
        );
        assert_eq!(v["category_uid"], 2);
        assert_eq!(v["type_uid"], 200401);
        assert_eq!(v["severity_id"], 4);
        assert_eq!(v["finding_info"]["title"], "anonymizer_exit");
        assert_eq!(v["finding_info"]["desc"], "RDP from a VPN exit");
    }
}
