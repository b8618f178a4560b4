//! The configuration file's shape, as serde reads it. Unknown keys are
//! refused (`deny_unknown_fields`) so that a typo never silently falls back
//! to a default. Values that need checks beyond their type keep their
//! position (`Spanned`) for the messages.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default)]
    pub sensor: Sensor,
    #[serde(default)]
    pub capture: Capture,
    #[serde(default)]
    pub site: Site,
    #[serde(default)]
    pub flow: Flow,
    #[serde(default)]
    pub geoip: Geoip,
    pub catalogue: Option<Catalogue>,
    #[serde(default)]
    pub metrics: Metrics,
    #[serde(default)]
    pub service: Service,
    pub outputs: Option<toml::Table>,
    pub policy: Option<toml::Table>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sensor {
    pub name: Option<Spanned<String>>,
    pub location: Option<Location>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub lat: Spanned<f64>,
    pub lon: Spanned<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capture {
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    pub workers: Option<Spanned<usize>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    pub name: Spanned<String>,
    pub promiscuous: Option<bool>,
    pub snaplen: Option<Spanned<u32>>,
    pub buffer_size: Option<Spanned<u64>>,
    pub bpf: Option<String>,
    pub immediate: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    #[serde(default)]
    pub networks: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    pub max_flows: Option<Spanned<usize>>,
    pub stream_prefix: Option<usize>,
    pub memcap: Option<usize>,
    /// STATE = SECONDS, the states of `--timeout`.
    #[serde(default)]
    pub timeouts: BTreeMap<String, Spanned<f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Geoip {
    #[serde(default)]
    pub databases: Vec<String>,
    #[serde(default)]
    pub directories: Vec<String>,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub lists: Vec<String>,
    pub max_age_days: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    pub file: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    #[serde(default)]
    pub enabled: bool,
    pub listen: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub stats_interval: Option<Spanned<f64>>,
    pub shutdown_timeout: Option<Spanned<f64>>,
}
