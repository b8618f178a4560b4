//! What detection needs to know about one finished session, taken from the
//! flow summary and its far end's enrichment in the worker, and handed to
//! the single detector in capture order. Owned and small: the flow itself
//! is serialised and dropped in the worker.

use std::net::IpAddr;

use crate::capture::Timestamp;
use crate::enrich::RemoteInfo;
use crate::flow::FlowSummary;
use crate::site::SiteNetworks;

/// The far end as GeoIP and the site lists describe it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteFacts {
    pub country_iso: Option<String>,
    pub city: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub accuracy_km: Option<u32>,
    pub asn: Option<u32>,
    pub as_org: Option<String>,
    pub connection_type: Option<String>,
    pub anonymous_vpn: bool,
    pub tor_exit: bool,
    pub public_proxy: bool,
    pub residential_proxy: bool,
    pub hosting: bool,
    pub anonymizer_confidence: Option<u8>,
    pub anonymizer_provider: Option<String>,
    /// `(list, label)` of every site list that matched.
    pub labels: Vec<(String, String)>,
}

impl RemoteFacts {
    pub fn from_info(info: &RemoteInfo) -> RemoteFacts {
        let g = &info.geo;
        let a = g.anonymizer.unwrap_or_default();
        RemoteFacts {
            country_iso: g.country_iso.clone(),
            city: g.city.clone(),
            lat: g.lat,
            lon: g.lon,
            accuracy_km: g.accuracy_km,
            asn: g.asn,
            as_org: g.as_org.clone(),
            connection_type: g.connection_type.clone(),
            anonymous_vpn: a.is_anonymous_vpn,
            tor_exit: a.is_tor_exit_node,
            public_proxy: a.is_public_proxy,
            residential_proxy: a.is_residential_proxy,
            hosting: a.is_hosting_provider,
            anonymizer_confidence: g.anonymizer_confidence,
            anonymizer_provider: g.anonymizer_provider.clone(),
            labels: info
                .labels
                .iter()
                .map(|l| (l.list.to_string(), l.label.to_string()))
                .collect(),
        }
    }

    /// A VPN exit, Tor exit, proxy or hosting network: its location is
    /// not where the person is.
    pub fn is_anonymizer(&self) -> bool {
        self.anonymous_vpn
            || self.tor_exit
            || self.public_proxy
            || self.residential_proxy
            || self.hosting
    }

    pub fn location(&self) -> Option<(f64, f64)> {
        Some((self.lat?, self.lon?))
    }
}

/// One remote-access session, as detection sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionFacts {
    pub flow_id: u64,
    pub start: Timestamp,
    pub end: Timestamp,
    pub src_ip: Option<IpAddr>,
    pub dst_ip: Option<IpAddr>,
    pub src_port: u16,
    pub dst_port: u16,
    pub ip_proto: u8,
    /// The initiator is outside the site and the responder inside.
    pub inbound: bool,
    /// The initiator is inside the site and the responder outside.
    pub outbound: bool,
    /// The site-side end: the server of an inbound session, the client of
    /// an outbound or internal one.
    pub internal_ip: Option<IpAddr>,
    /// The far end, when one end is outside the site.
    pub remote_ip: Option<IpAddr>,
    pub app_proto: Option<&'static str>,
    pub tool: Option<String>,
    pub category: Option<&'static str>,
    /// The catalogue (not only the protocol) named the product.
    pub tool_from_catalogue: bool,
    pub tool_evidence: Vec<String>,
    /// The RDP cookie user (or another protocol's user hint).
    pub user_hint: Option<String>,
    /// The flow is a VPN protocol (WireGuard, OpenVPN, IKE, L2TP, PPTP).
    pub vpn: bool,
    /// TCP handshake, sensor to client and back (SYN-ACK -> ACK), ns.
    pub tcp_rtt_client_ns: Option<u64>,
    /// TCP handshake, sensor to server and back (SYN -> SYN-ACK), ns.
    pub tcp_rtt_server_ns: Option<u64>,
    /// Smallest application round trip where the client replied, ns.
    pub app_rtt_client_ns: Option<u64>,
    pub app_rtt_samples: u32,
    pub client_syn_mss: Option<u16>,
    pub client_syn_hops: Option<u8>,
    pub client_syn_ttl: Option<u8>,
    pub is_ipv6: bool,
    /// `None` when enrichment was off.
    pub remote: Option<RemoteFacts>,
}

impl SessionFacts {
    /// Facts of a flow that is a remote-access session (`None` otherwise).
    pub fn of_flow(
        flow: &FlowSummary,
        site: &SiteNetworks,
        remote: Option<&RemoteInfo>,
    ) -> Option<SessionFacts> {
        let app = flow.app.as_deref()?;
        let ra = app.remote_access.as_ref()?;
        let ep = &flow.endpoints;
        let src_in = site.contains(ep.src_ip);
        let dst_in = site.contains(ep.dst_ip);
        let inbound = !src_in && dst_in;
        let outbound = src_in && !dst_in;
        // The site-side end: the server of an inbound session, the client
        // of an outbound or internal one (an issued laptop is a client).
        let internal_ip = match (src_in, dst_in) {
            (false, true) => Some(ep.dst_ip),
            (true, _) => Some(ep.src_ip),
            (false, false) => None,
        };
        let tcp = flow.tcp.as_ref();
        let syn = tcp.and_then(|t| t.syn.as_ref());
        let vpn = ra.category == Some("vpn");
        Some(SessionFacts {
            flow_id: flow.flow_id,
            start: flow.start,
            end: flow.end,
            src_ip: Some(ep.src_ip),
            dst_ip: Some(ep.dst_ip),
            src_port: ep.src_port,
            dst_port: ep.dst_port,
            ip_proto: ep.ip_proto,
            inbound,
            outbound,
            internal_ip,
            remote_ip: site.remote_end(ep.src_ip, ep.dst_ip),
            app_proto: app.app_proto.map(|p| p.name()),
            tool: ra.tool.clone(),
            category: ra.category,
            tool_from_catalogue: ra.evidence.iter().any(|e| !e.starts_with("protocol:")),
            tool_evidence: ra.evidence.clone(),
            user_hint: ra.identity.clone(),
            vpn,
            tcp_rtt_client_ns: tcp.and_then(|t| t.rtt_synack_ack_ns),
            tcp_rtt_server_ns: tcp.and_then(|t| t.rtt_syn_synack_ns),
            app_rtt_client_ns: app.app_rtt.client_reply_ns,
            app_rtt_samples: app.app_rtt.samples,
            client_syn_mss: syn.and_then(|s| s.mss),
            client_syn_hops: syn.map(|s| s.hops),
            client_syn_ttl: syn.map(|s| s.ttl),
            is_ipv6: ep.src_ip.is_ipv6(),
            remote: remote.map(RemoteFacts::from_info),
        })
    }

    /// Capture time of the session's start, seconds since the epoch.
    pub fn start_secs(&self) -> i64 {
        self.start.0.div_euclid(1_000_000_000)
    }
}

/// What a DHCP exchange taught about a site host: its name and MAC address,
/// for identities matched by device name or laptop MAC.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostFacts {
    pub ip: Option<IpAddr>,
    pub hostname: Option<String>,
    pub mac: Option<String>,
    pub ts: Timestamp,
}

impl HostFacts {
    /// From a DHCP flow whose server assigned an address (an ACK/Reply).
    pub fn of_flow(flow: &FlowSummary) -> Option<HostFacts> {
        let d = flow.app.as_deref()?.dhcp.as_ref()?;
        let ip = d.assigned_ip.or(d.requested_ip)?;
        if d.hostname.is_none() && d.mac.is_none() {
            return None;
        }
        Some(HostFacts {
            ip: Some(ip),
            hostname: d.hostname.clone(),
            mac: d.mac.clone(),
            ts: flow.end,
        })
    }
}
