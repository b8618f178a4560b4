//! The parts of MaxMind records that gatewatch uses, as serde structs that
//! borrow their strings from the database (no copy until a field is kept),
//! and how each fills a [`GeoInfo`].

use serde::Deserialize;

use crate::enrich::{Anonymizer, GeoInfo};

/// An unsigned integer stored in any width: the reader is strict about
/// widths (uint16 vs uint32) and databases differ in which they use.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct AnyUint(pub u64);

impl<'de> Deserialize<'de> for AnyUint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = AnyUint;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an unsigned integer")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<AnyUint, E> {
                Ok(AnyUint(v))
            }
            fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<AnyUint, E> {
                u64::try_from(v)
                    .map(AnyUint)
                    .map_err(|_| E::custom("integer above u64"))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<AnyUint, E> {
                u64::try_from(v)
                    .map(AnyUint)
                    .map_err(|_| E::custom("negative integer"))
            }
        }
        d.deserialize_any(V)
    }
}

fn small<T: TryFrom<u64>>(v: Option<AnyUint>) -> Option<T> {
    v.and_then(|v| T::try_from(v.0).ok())
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Names<'a> {
    #[serde(borrow)]
    pub en: Option<&'a str>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Place<'a> {
    #[serde(borrow)]
    pub iso_code: Option<&'a str>,
    #[serde(borrow, default)]
    pub names: Option<Names<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Location<'a> {
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub accuracy_radius: Option<AnyUint>,
    #[serde(borrow)]
    pub time_zone: Option<&'a str>,
}

/// Network facts: top level in ASN/ISP/Connection-Type records, under
/// `traits` in Enterprise records.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Network<'a> {
    pub autonomous_system_number: Option<AnyUint>,
    #[serde(borrow)]
    pub autonomous_system_organization: Option<&'a str>,
    #[serde(borrow)]
    pub isp: Option<&'a str>,
    #[serde(borrow)]
    pub organization: Option<&'a str>,
    #[serde(borrow)]
    pub connection_type: Option<&'a str>,
}

/// City, Country and Enterprise records.
#[derive(Debug, Default, Deserialize)]
pub(super) struct CityRecord<'a> {
    #[serde(borrow)]
    pub country: Option<Place<'a>>,
    #[serde(borrow)]
    pub city: Option<Place<'a>>,
    #[serde(borrow)]
    pub subdivisions: Option<Vec<Place<'a>>>,
    #[serde(borrow)]
    pub location: Option<Location<'a>>,
    #[serde(borrow)]
    pub traits: Option<Network<'a>>,
}

/// Anonymous-IP, Anonymous Plus and Residential Proxy records.
#[derive(Debug, Default, Deserialize)]
pub(super) struct AnonRecord<'a> {
    #[serde(default)]
    pub is_anonymous: bool,
    #[serde(default)]
    pub is_anonymous_vpn: bool,
    #[serde(default)]
    pub is_hosting_provider: bool,
    #[serde(default)]
    pub is_public_proxy: bool,
    #[serde(default)]
    pub is_residential_proxy: bool,
    #[serde(default)]
    pub is_tor_exit_node: bool,
    pub anonymizer_confidence: Option<AnyUint>,
    #[serde(borrow)]
    pub provider_name: Option<&'a str>,
    #[serde(borrow)]
    pub network_last_seen: Option<&'a str>,
}

fn name(p: &Option<Place<'_>>) -> Option<String> {
    p.as_ref()?.names.as_ref()?.en.map(str::to_string)
}

impl CityRecord<'_> {
    pub(super) fn fill(&self, info: &mut GeoInfo) {
        if let Some(iso) = self.country.as_ref().and_then(|c| c.iso_code) {
            info.country_iso = Some(iso.to_string());
        }
        if let Some(n) = name(&self.country) {
            info.country = Some(n);
        }
        if let Some(n) = name(&self.city) {
            info.city = Some(n);
        }
        // The list runs from least to most specific.
        let sub = self.subdivisions.as_deref().and_then(|s| s.last());
        if let Some(n) = sub.and_then(|s| s.names.as_ref()?.en) {
            info.subdivision = Some(n.to_string());
        }
        if let Some(loc) = &self.location {
            // Latitude and longitude only make sense together.
            if let (Some(lat), Some(lon)) = (loc.latitude, loc.longitude) {
                info.lat = Some(lat);
                info.lon = Some(lon);
            }
            if let Some(r) = small(loc.accuracy_radius) {
                info.accuracy_km = Some(r);
            }
            if let Some(tz) = loc.time_zone {
                info.time_zone = Some(tz.to_string());
            }
        }
        if let Some(t) = &self.traits {
            t.fill(info);
        }
    }
}

impl Network<'_> {
    pub(super) fn fill(&self, info: &mut GeoInfo) {
        if let Some(n) = small(self.autonomous_system_number) {
            info.asn = Some(n);
        }
        if let Some(o) = self.autonomous_system_organization {
            info.as_org = Some(o.to_string());
        }
        if let Some(i) = self.isp {
            info.isp = Some(i.to_string());
        }
        if let Some(o) = self.organization {
            info.organization = Some(o.to_string());
        }
        if let Some(c) = self.connection_type {
            info.connection_type = Some(c.to_string());
        }
    }
}

impl AnonRecord<'_> {
    /// `residential` is set for a Residential Proxy database, whose records
    /// carry no flag: being listed is the fact.
    pub(super) fn fill(&self, info: &mut GeoInfo, residential: bool) {
        let a = info.anonymizer.get_or_insert_with(Anonymizer::default);
        a.is_anonymous |= self.is_anonymous;
        a.is_anonymous_vpn |= self.is_anonymous_vpn;
        a.is_hosting_provider |= self.is_hosting_provider;
        a.is_public_proxy |= self.is_public_proxy;
        a.is_residential_proxy |= self.is_residential_proxy || residential;
        a.is_tor_exit_node |= self.is_tor_exit_node;
        if let Some(c) = self.anonymizer_confidence {
            let c = u8::try_from(c.0.min(100)).unwrap_or(100);
            info.anonymizer_confidence = Some(info.anonymizer_confidence.map_or(c, |o| o.max(c)));
        }
        if let Some(p) = self.provider_name {
            info.anonymizer_provider = Some(p.to_string());
        }
        if let Some(s) = self.network_last_seen {
            info.anonymizer_last_seen = Some(s.to_string());
        }
    }
}
