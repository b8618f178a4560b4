//! Enrichment of the far end of each flow: where it is and what kind of
//! network it belongs to, from MaxMind-format databases (GeoIP2/GeoLite2 and
//! the project's own demo databases in `geoip/`) and the site's own lists.
//!
//! Lookups happen once per remote address (a bounded cache), never per
//! packet. Every database is verified in full when it is opened: a corrupt
//! file is refused with an error naming the file and what was wrong, rather
//! than answering lookups wrongly.

use std::net::IpAddr;

pub mod geoip;

/// What the databases say about one address. Every field is optional: each
/// comes from whichever loaded database knows it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct GeoInfo {
    /// ISO 3166-1 alpha-2 country code (City/Country databases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_iso: Option<String>,
    /// Country name in English.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// The most specific subdivision's name in English.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subdivision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    /// Radius around lat/lon within which the address most likely is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy_km: Option<u32>,
    /// IANA time zone name, e.g. "Europe/Rome".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Autonomous system number (ASN, ISP or Enterprise databases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_org: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isp: Option<String>,
    /// The database network that matched, as CIDR (of the most specific
    /// database that answered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Connection-Type database: "Cable/DSL", "Cellular", "Corporate",
    /// "Satellite".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_type: Option<String>,
    /// Organisation holding the network (ISP or Enterprise databases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Anonymous Plus / Residential Proxy: how sure the database is (0-100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymizer_confidence: Option<u8>,
    /// Anonymous Plus / Residential Proxy: the anonymizer's provider name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymizer_provider: Option<String>,
    /// Anonymous Plus / Residential Proxy: last day seen (YYYY-MM-DD).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymizer_last_seen: Option<String>,
    /// Anonymous-IP facts; absent when no such database is loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymizer: Option<Anonymizer>,
}

/// Anonymous-IP (and Anonymous Plus / Residential Proxy) flags. A flag that
/// the database does not set is false.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Anonymizer {
    pub is_anonymous: bool,
    pub is_anonymous_vpn: bool,
    pub is_hosting_provider: bool,
    pub is_public_proxy: bool,
    pub is_residential_proxy: bool,
    pub is_tor_exit_node: bool,
}

impl GeoInfo {
    pub fn is_empty(&self) -> bool {
        *self == GeoInfo::default()
    }
}

/// Something that can say where an address is.
pub trait GeoLookup: Send + Sync {
    fn lookup(&self, addr: IpAddr) -> GeoInfo;
}
