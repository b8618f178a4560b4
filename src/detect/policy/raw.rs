//! The policy's shape as serde reads it (docs/policy.md). Unknown keys are
//! refused so that a typo never silently becomes a default; values that
//! need checks beyond their type keep their position for the messages.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A policy file of its own: the keys at the top level.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub sensor: Option<Sensor>,
    pub watch: Option<Watch>,
    #[serde(default)]
    pub regions: BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
    pub defaults: Option<Expectations>,
    #[serde(default)]
    pub identities: Vec<Identity>,
    pub identity_map: Option<IdentityMap>,
    pub allow: Option<Allow>,
    pub alerts: Option<Alerts>,
    pub store: Option<Store>,
    #[serde(default)]
    pub rules: Rules,
}

/// The service configuration: only `[policy]` is read here (the rest is
/// the configuration's own business, checked by `config`).
#[derive(Debug, Default, Deserialize)]
pub struct ServiceFile {
    pub policy: Option<Policy>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sensor {
    pub name: Option<Spanned<String>>,
    /// The same shape as the service configuration's `[sensor] location`.
    pub location: Option<crate::config::raw::Location>,
    /// The site's own networks, besides the private ranges.
    #[serde(default)]
    pub networks: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Watch {
    #[serde(default)]
    pub services: Vec<Spanned<String>>,
}

/// What is expected of an identity (or of the site as a whole).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    pub expected_countries: Option<Vec<Spanned<String>>>,
    pub expected_network_kinds: Option<Vec<Spanned<String>>>,
    pub time_zone: Option<Spanned<String>>,
    pub working_hours: Option<Spanned<String>>,
    pub working_days: Option<Vec<Spanned<String>>>,
    pub allowed_tools: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub name: Spanned<String>,
    pub kind: Option<Spanned<String>>,
    #[serde(default)]
    pub rdp_users: Vec<Spanned<String>>,
    #[serde(default)]
    pub device_names: Vec<Spanned<String>>,
    #[serde(default)]
    pub laptop_addresses: Vec<Spanned<String>>,
    #[serde(default)]
    pub laptop_macs: Vec<Spanned<String>>,
    #[serde(default)]
    pub source_networks: Vec<Spanned<String>>,
    pub expected_countries: Option<Vec<Spanned<String>>>,
    pub expected_network_kinds: Option<Vec<Spanned<String>>>,
    pub time_zone: Option<Spanned<String>>,
    pub working_hours: Option<Spanned<String>>,
    pub working_days: Option<Vec<Spanned<String>>>,
    pub allowed_tools: Option<Vec<Spanned<String>>>,
}

impl Identity {
    /// The expectation keys of this identity, in the defaults' shape.
    pub fn take_expectations(&mut self) -> Expectations {
        Expectations {
            expected_countries: self.expected_countries.take(),
            expected_network_kinds: self.expected_network_kinds.take(),
            time_zone: self.time_zone.take(),
            working_hours: self.working_hours.take(),
            working_days: self.working_days.take(),
            allowed_tools: self.allowed_tools.take(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityMap {
    pub file: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    #[serde(default)]
    pub addresses: Vec<Spanned<String>>,
    #[serde(default)]
    pub networks: Vec<Spanned<String>>,
    #[serde(default)]
    pub tools: Vec<Spanned<String>>,
    #[serde(default)]
    pub identities: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alerts {
    pub min_score: Option<Spanned<i64>>,
    pub dedup_window: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Store {
    pub path: Option<Spanned<String>>,
    pub max_identities: Option<Spanned<i64>>,
    pub max_egresses: Option<Spanned<i64>>,
    pub retention: Option<Spanned<String>>,
}

/// Declares one `[rules.NAME]` table: every rule takes `enabled`,
/// `severity` and `score`, then its own thresholds. (Written out per rule
/// rather than with `#[serde(flatten)]`, which cannot refuse unknown keys.)
macro_rules! rule_table {
    ($name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            pub enabled: Option<bool>,
            pub severity: Option<Spanned<String>>,
            pub score: Option<Spanned<i64>>,
            $(pub $field: Option<$ty>,)*
        }

        impl RawRule for $name {
            fn enabled(&self) -> Option<bool> {
                self.enabled
            }
            fn severity(&self) -> Option<&Spanned<String>> {
                self.severity.as_ref()
            }
            fn score(&self) -> Option<&Spanned<i64>> {
                self.score.as_ref()
            }
        }
    };
}

/// What every `[rules.NAME]` table has.
pub trait RawRule {
    fn enabled(&self) -> Option<bool>;
    fn severity(&self) -> Option<&Spanned<String>>;
    fn score(&self) -> Option<&Spanned<i64>>;
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub unexpected_geography: Option<Plain>,
    pub anonymizer_exit: Option<Anonymizer>,
    pub shared_egress: Option<SharedEgress>,
    pub impossible_travel: Option<Travel>,
    pub latency_geography_mismatch: Option<Latency>,
    pub relayed_session: Option<Relayed>,
    pub tunnel_indicators: Option<Tunnel>,
    pub remote_control_tool: Option<Plain>,
    pub off_hours: Option<OffHours>,
    pub unknown_identity: Option<Plain>,
}

rule_table!(Plain {});
rule_table!(Anonymizer {
    include_hosting: bool,
    min_confidence: Spanned<i64>,
    list_labels: Vec<Spanned<String>>,
    hosting_asns: Vec<Spanned<i64>>,
});
rule_table!(SharedEgress {
    min_identities: Spanned<i64>,
    window: Spanned<String>,
    prefix_v4: Spanned<i64>,
    prefix_v6: Spanned<i64>,
    exempt_connection_types: Vec<Spanned<String>>,
    max_egresses_per_identity: Spanned<i64>,
    max_countries_per_identity: Spanned<i64>,
});
rule_table!(Travel {
    max_speed_kmh: Spanned<f64>,
    min_distance_km: Spanned<f64>,
});
rule_table!(Latency {
    fibre_km_per_ms: Spanned<f64>,
    slack_ms: Spanned<f64>,
    max_ratio: Spanned<f64>,
    far_slack_ms: Spanned<f64>,
    exempt_asns: Vec<Spanned<i64>>,
});
rule_table!(Relayed {
    min_ratio: Spanned<f64>,
    min_gap_ms: Spanned<f64>,
    max_app_rtt_ms: Spanned<f64>,
});
rule_table!(Tunnel {
    max_mss_v4: Spanned<i64>,
    max_mss_v6: Spanned<i64>,
    exempt_connection_types: Vec<Spanned<String>>,
});
rule_table!(OffHours {
    min_sessions: Spanned<i64>,
    window: Spanned<String>,
});
