//! The rules that judge one session on its own facts: geography,
//! anonymizers, path physics (latency against distance, relays), tunnels,
//! remote-control tools and unknown identities. The rules that need
//! history (shared egress, travel, working hours) are in `history`.

use super::facts::{RemoteFacts, SessionFacts};
use super::finding::{Finding, RuleId};
use super::identity::Resolved;
use super::policy::{Expect, NetKind, Policy, RuleCommon};
use crate::config::Location;

/// Mean Earth radius, km (IUGG).
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Great-circle distance between two points, km (haversine formula).
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1) = (a.0.to_radians(), a.1.to_radians());
    let (la2, lo2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Round to 0.1 for evidence (measurements, not noise).
fn r1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn finding(c: RuleCommon, rule: RuleId, reason: String) -> Finding {
    Finding::new(rule, c.severity, c.score, reason)
}

/// The kind of network the far end is on.
pub fn net_kind(r: &RemoteFacts) -> Option<NetKind> {
    if r.hosting {
        return Some(NetKind::Hosting);
    }
    Some(match r.connection_type.as_deref()? {
        "Cable/DSL" => NetKind::Residential,
        "Cellular" => NetKind::Mobile,
        "Corporate" => NetKind::Corporate,
        "Satellite" => NetKind::Satellite,
        _ => return None,
    })
}

/// Does the far end stand for where the person is? Only for sessions that
/// come in from outside: for outbound ones it is a server's location.
fn person_side(s: &SessionFacts) -> Option<&RemoteFacts> {
    s.inbound.then_some(s.remote.as_ref()?)
}

/// Rule 1, `unexpected_geography`.
pub fn unexpected_geography(
    s: &SessionFacts,
    expect: &Expect,
    p: &Policy,
    who: Option<&Resolved>,
) -> Option<Finding> {
    let c = p.rules.unexpected_geography;
    let r = person_side(s)?;
    let whose = who.map_or("the site".to_string(), |w| w.name.clone());
    if let Some(country) = r.country_iso.as_deref() {
        if !expect.countries.is_empty() && !expect.countries.iter().any(|e| e == country) {
            let place = r
                .city
                .as_deref()
                .map_or(country.to_string(), |city| format!("{city}, {country}"));
            return Some(
                finding(
                    c,
                    RuleId::UnexpectedGeography,
                    format!(
                        "The session comes from {place}, outside the countries expected for {whose} ({}).",
                        expect.countries.join(", ")
                    ),
                )
                .with("country", country, "geoip_city")
                .with("expected_countries", expect.countries.clone(), "policy"),
            );
        }
    }
    let kind = net_kind(r)?;
    if !expect.network_kinds.is_empty() && !expect.network_kinds.contains(&kind) {
        let expected: Vec<&str> = expect.network_kinds.iter().map(|k| k.as_str()).collect();
        return Some(
            finding(
                c,
                RuleId::UnexpectedGeography,
                format!(
                    "The session comes from a {} network, not the kind expected for {whose} ({}).",
                    kind.as_str(),
                    expected.join(", ")
                ),
            )
            .with("network_kind", kind.as_str(), "geoip_connection_type")
            .with("expected_network_kinds", expected, "policy"),
        );
    }
    None
}

/// Rule 2, `anonymizer_exit`.
pub fn anonymizer_exit(s: &SessionFacts, p: &Policy) -> Option<Finding> {
    let rule = &p.rules.anonymizer_exit;
    let r = person_side(s)?;
    let mut kinds: Vec<&str> = Vec::new();
    if r.anonymous_vpn {
        kinds.push("commercial VPN exit");
    }
    if r.tor_exit {
        kinds.push("Tor exit");
    }
    if r.public_proxy {
        kinds.push("public proxy");
    }
    if r.residential_proxy {
        kinds.push("residential proxy");
    }
    // Anonymous Plus says how sure it is; weak guesses are left out.
    if r.anonymizer_confidence
        .is_some_and(|c| c < rule.min_confidence)
    {
        kinds.clear();
    }
    let labels: Vec<String> = r
        .labels
        .iter()
        .filter(|(list, label)| {
            let (list, label) = (list.to_ascii_lowercase(), label.to_ascii_lowercase());
            rule.list_labels.iter().any(|w| *w == list || *w == label)
        })
        .map(|(list, label)| format!("{list}:{label}"))
        .collect();
    let hosting = rule.include_hosting
        && (r.hosting || r.asn.is_some_and(|a| rule.hosting_asns.contains(&a)));
    if kinds.is_empty() && labels.is_empty() && !hosting {
        return None;
    }
    let mut f = finding(rule.common, RuleId::AnonymizerExit, String::new());
    let what = if !kinds.is_empty() {
        kinds.join(" and ")
    } else if !labels.is_empty() {
        "listed anonymizer address (site lists)".to_string()
    } else {
        // Hosting alone is weaker than a known VPN, Tor or proxy: half
        // the score.
        f.score /= 2;
        f.severity = f.severity.min(super::finding::Severity::Medium);
        "hosting network (a rented server, not a home or office)".to_string()
    };
    let org = match (r.asn, r.as_org.as_deref()) {
        (Some(a), Some(o)) => format!(" (AS{a} {o})"),
        (Some(a), None) => format!(" (AS{a})"),
        (None, Some(o)) => format!(" ({o})"),
        (None, None) => String::new(),
    };
    f.reason =
        format!("The session comes from a {what}{org}: the person's real location is hidden.");
    f = f.with("anonymizer", kinds.clone(), "geoip_anonymous_ip");
    if hosting {
        f = f.with("hosting", true, "geoip_anonymous_ip");
    }
    if let Some(a) = r.asn {
        f = f.with("asn", a, "geoip_asn");
    }
    if let Some(p) = &r.anonymizer_provider {
        f = f.with("provider", p.as_str(), "geoip_anonymous_plus");
    }
    if !labels.is_empty() {
        f = f.with("site_lists", labels, "site_list");
    }
    Some(f)
}

/// Rule 5, `latency_geography_mismatch`: the handshake RTT toward the client
/// against the distance from the sensor to where GeoIP puts it.
pub fn latency_geography_mismatch(
    s: &SessionFacts,
    p: &Policy,
    sensor: Option<Location>,
) -> Option<Finding> {
    let rule = &p.rules.latency_geography_mismatch;
    let sensor = sensor?;
    let r = person_side(s)?;
    let rtt_ns = s.tcp_rtt_client_ns?;
    let place = r.location()?;
    if r.asn.is_some_and(|a| rule.exempt_asns.contains(&a)) {
        return None;
    }
    let distance = distance_km((sensor.lat, sensor.lon), place);
    let accuracy = f64::from(r.accuracy_km.unwrap_or(0));
    let rtt = ms(rtt_ns);
    // Light in fibre covers ~100 km per millisecond of round trip: the
    // nearest the address can be is its distance less the database's
    // accuracy radius.
    let min_rtt = (distance - accuracy).max(0.0) / rule.fibre_km_per_ms;
    let place_name = r
        .city
        .clone()
        .or(r.country_iso.clone())
        .unwrap_or_else(|| "its location".into());
    if rtt + rule.slack_ms < min_rtt {
        return Some(
            finding(
                rule.common,
                RuleId::LatencyGeographyMismatch,
                format!(
                    "The TCP round trip to the client is {:.1} ms, but {place_name} is {:.0} km away, which light in fibre cannot cross in under {:.1} ms: the client is much nearer than GeoIP says.",
                    rtt, distance, min_rtt
                ),
            )
            .with("tcp_rtt_ms", r1(rtt), "tcp_handshake")
            .with("distance_km", distance.round(), "geoip_city")
            .with("accuracy_km", accuracy, "geoip_city")
            .with("min_rtt_ms", r1(min_rtt), "physics")
            .with("direction", "too_near", "physics"),
        );
    }
    // Far above: the client sits behind something far away (a tunnel, a
    // relay). Mobile and satellite links are slow by nature, and proxies
    // and VPN exits are the anonymizer rule's business.
    let slow_link = matches!(net_kind(r), Some(NetKind::Mobile | NetKind::Satellite));
    let anonymizer = r.is_anonymizer();
    let max_rtt =
        ((distance + accuracy) / rule.fibre_km_per_ms) * rule.max_ratio + rule.far_slack_ms;
    if !slow_link && !anonymizer && rtt > max_rtt {
        return Some(
            finding(
                rule.common,
                RuleId::LatencyGeographyMismatch,
                format!(
                    "The TCP round trip to the client is {:.1} ms, far more than the {:.0} km to {place_name} explains (at most {:.1} ms): the client is much farther away than GeoIP says.",
                    rtt, distance, max_rtt
                ),
            )
            .with("tcp_rtt_ms", r1(rtt), "tcp_handshake")
            .with("distance_km", distance.round(), "geoip_city")
            .with("accuracy_km", accuracy, "geoip_city")
            .with("max_rtt_ms", r1(max_rtt), "physics")
            .with("direction", "too_far", "physics"),
        );
    }
    None
}

/// Rule 6, `relayed_session`: the application round trip toward the client is
/// much longer than the TCP handshake's, so TCP ends at a relay near the
/// sensor and the person is beyond it.
pub fn relayed_session(s: &SessionFacts, p: &Policy) -> Option<Finding> {
    let rule = &p.rules.relayed_session;
    // A client on the site's side is the person itself: its replies take
    // its own computing time, and no relay stands between it and the
    // sensor.
    if s.outbound {
        return None;
    }
    let tcp = ms(s.tcp_rtt_client_ns?);
    let app = ms(s.app_rtt_client_ns?);
    let gap = app - tcp;
    if app < tcp * rule.min_ratio || gap < rule.min_gap_ms {
        return None;
    }
    // Beyond any network path (even through a satellite and across the
    // world, round trips stay under a second or so): an endpoint that
    // waited (a prompt, a stalled process), not a farther person.
    if app > rule.max_app_rtt_ms {
        return None;
    }
    Some(
        finding(
            rule.common,
            RuleId::RelayedSession,
            format!(
                "The client's TCP handshake took {tcp:.1} ms but its application replies took at least {app:.1} ms: TCP ends at a relay {gap:.0} ms nearer than the person."
            ),
        )
        .with("tcp_rtt_ms", r1(tcp), "tcp_handshake")
        .with("app_rtt_ms", r1(app), "application")
        .with("app_rtt_samples", s.app_rtt_samples, "application")
        .with("ratio", r1(app / tcp.max(0.001)), "physics"),
    )
}

/// Rule 7, `tunnel_indicators`: a SYN MSS that leaves room for encapsulation,
/// or a VPN protocol out of an identity's issued laptop.
pub fn tunnel_indicators(s: &SessionFacts, p: &Policy, who: Option<&Resolved>) -> Option<Finding> {
    let rule = &p.rules.tunnel_indicators;
    if s.vpn && s.outbound && who.is_some_and(|w| w.issued_laptop) {
        let name = who.map_or("", |w| w.name.as_str());
        let mut f = finding(
            rule.common,
            RuleId::TunnelIndicators,
            format!(
                "{name}'s issued laptop opened a {} tunnel to the internet: its traffic leaves through somewhere else.",
                s.tool.as_deref().unwrap_or("VPN")
            ),
        )
        .with("vpn_protocol", s.app_proto.unwrap_or("vpn"), "dissector");
        // A tunnel out of a managed laptop is more than a hint.
        f.score = f.score.max(40);
        f.severity = f.severity.max(super::finding::Severity::Medium);
        return Some(f);
    }
    let r = person_side(s)?;
    let mss = s.client_syn_mss?;
    let max = if s.is_ipv6 {
        rule.max_mss_v6
    } else {
        rule.max_mss_v4
    };
    if mss > max || mss == 0 {
        return None;
    }
    if r.connection_type
        .as_deref()
        .is_some_and(|t| rule.exempt_connection_types.iter().any(|e| e == t))
    {
        return None;
    }
    let ethernet_mss: u16 = if s.is_ipv6 { 1440 } else { 1460 };
    let mut f = finding(
        rule.common,
        RuleId::TunnelIndicators,
        format!(
            "The client's SYN offers an MSS of {mss} bytes, {} less than an Ethernet path's {ethernet_mss}: room for a tunnel's headers.",
            ethernet_mss.saturating_sub(mss)
        ),
    )
    .with("syn_mss", mss, "tcp_handshake")
    .with("max_mss", max, "policy");
    if let Some(h) = s.client_syn_hops {
        f = f.with("hops", h, "tcp_handshake");
    }
    Some(f)
}

/// Rule 8, `remote_control_tool`: a site host opens a session to a
/// remote-desktop, RMM or IP-KVM relay service the catalogue names.
pub fn remote_control_tool(
    s: &SessionFacts,
    p: &Policy,
    expect: &Expect,
    who: Option<&Resolved>,
) -> Option<Finding> {
    let c = p.rules.remote_control_tool;
    if !s.outbound || !s.tool_from_catalogue {
        return None;
    }
    if !matches!(
        s.category,
        Some("remote-desktop" | "rmm" | "kvm" | "ip-kvm")
    ) {
        return None;
    }
    let tool = s.tool.as_deref()?;
    let lower = tool.to_ascii_lowercase();
    if expect.tools.contains(&lower) || p.allow.tools.contains(&lower) {
        return None;
    }
    let host = s.internal_ip.map(|i| i.to_string()).unwrap_or_default();
    let laptop = who.filter(|w| w.issued_laptop);
    let whose = match laptop {
        Some(w) => format!("{}'s issued laptop ({host})", w.name),
        None => format!("The site host {host}"),
    };
    let mut f = finding(
        c,
        RuleId::RemoteControlTool,
        format!(
            "{whose} opened a session with {tool}: someone elsewhere can control it through {tool}'s relay."
        ),
    )
    .with("tool", tool, "catalogue")
    .with("category", s.category.unwrap_or(""), "catalogue")
    .with("matched", s.tool_evidence.clone(), "catalogue");
    if laptop.is_some() {
        // The laptop-farm pattern itself: an issued laptop driven remotely.
        f.score = (f.score + 10).min(100);
        f = f.with("issued_laptop", true, "policy");
    }
    Some(f)
}

/// Rule 10, `unknown_identity`: identities are configured, and a remote-access
/// session to a watched service matches none of them.
pub fn unknown_identity(s: &SessionFacts, p: &Policy, who: Option<&Resolved>) -> Option<Finding> {
    let c = p.rules.unknown_identity;
    if p.identities.is_empty() || !s.inbound || who.is_some_and(|w| w.configured) {
        return None;
    }
    let mut f = finding(
        c,
        RuleId::UnknownIdentity,
        match who {
            Some(w) => format!(
                "A {} session to a watched service names {}, who is not among the site's configured identities.",
                s.tool.as_deref().unwrap_or("remote-access"),
                w.name
            ),
            None => format!(
                "A {} session to a watched service matches none of the site's configured identities.",
                s.tool.as_deref().unwrap_or("remote-access")
            ),
        },
    );
    if let Some(w) = who {
        f = f.with("seen_as", w.name.as_str(), w.matched_by);
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haversine_matches_published_great_circle_distances() {
        // Milan (45.4642, 9.19) to Turin (45.0705, 7.6868): 125 km on
        // the great circle (e.g. movable-type.co.uk's calculator gives
        // 125.6 km with R = 6371 km).
        let d = distance_km((45.4642, 9.19), (45.0705, 7.6868));
        assert!((d - 125.6).abs() < 0.5, "{d}");
        // Paris CDG - New York JFK: 5,834 km (standard aviation figure
        // 3,150 nmi = 5,834 km).
        let d = distance_km((49.0097, 2.5479), (40.6413, -73.7781));
        assert!((d - 5834.0).abs() < 15.0, "{d}");
        assert_eq!(distance_km((10.0, 20.0), (10.0, 20.0)), 0.0);
    }
}
