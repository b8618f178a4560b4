//! The service's configuration file (TOML), read and validated before
//! anything runs.
//!
//! Reading has two stages. [`raw`] is the file's shape, checked by serde
//! (unknown keys and wrong types are refused there, with toml's position);
//! [`Config::from_str`] then checks what types cannot say (a CIDR parses, a
//! latitude is within +-90, an interface is named) with the position of the
//! offending value, kept by `toml::Spanned`. Every error names the file, the
//! line and column, the field and what was expected.
//!
//! `[outputs]` and `[policy]` are kept as opaque TOML tables: their owners
//! (the output sinks, the detection policy) validate them.

pub mod raw;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::enrich::setup::EnrichOptions;
use crate::flow::table::FlowConfig;
use crate::site::SiteNetworks;

/// Where the packaged configuration is installed.
pub const DEFAULT_PATH: &str = "/etc/gatewatch/gatewatch.toml";
/// The metrics endpoint's default address: loopback only.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9187";

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line and column of the offending text, when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The dotted key, e.g. `capture.interfaces[0].snaplen`.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem of a file (validation goes on after the first one so that
/// an admin fixes them in one go).
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The sensor itself.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorConfig {
    pub name: String,
    pub location: Option<Location>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
}

impl Location {
    /// What is wrong with a latitude (`None`: nothing).
    pub fn lat_problem(lat: f64) -> Option<String> {
        (!(lat.is_finite() && (-90.0..=90.0).contains(&lat)))
            .then(|| format!("expected a latitude in -90..=90, got {lat}"))
    }

    /// What is wrong with a longitude (`None`: nothing).
    pub fn lon_problem(lon: f64) -> Option<String> {
        (!(lon.is_finite() && (-180.0..=180.0).contains(&lon)))
            .then(|| format!("expected a longitude in -180..=180, got {lon}"))
    }
}

/// One capture interface (libpcap settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceConfig {
    pub name: String,
    pub promiscuous: bool,
    pub snaplen: i32,
    /// Kernel buffer, bytes (libpcap's default when absent).
    pub buffer_size: Option<i32>,
    pub bpf: Option<String>,
    pub immediate: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureConfig {
    pub interfaces: Vec<InterfaceConfig>,
    pub workers: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    pub enabled: bool,
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Wall-clock interval between `stats` events.
    pub stats_interval: Duration,
    /// Longest time from SIGTERM to exit.
    pub shutdown_timeout: Duration,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub sensor: SensorConfig,
    pub capture: CaptureConfig,
    /// The `[site] networks` as written (for messages and comparisons).
    pub site_networks: Vec<String>,
    pub site: SiteNetworks,
    pub flow: FlowConfig,
    pub enrich: EnrichOptions,
    pub catalogue: Option<PathBuf>,
    pub metrics: MetricsConfig,
    pub service: ServiceConfig,
    /// `[outputs]`, passed through to the output sinks.
    pub outputs: Option<toml::Table>,
    /// `[policy]`, passed through to detection.
    pub policy: Option<toml::Table>,
}

impl Config {
    /// Read and validate a file.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: path.to_path_buf(),
                line: None,
                column: None,
                field: None,
                message: format!("cannot read: {e}"),
            }])
        })?;
        Config::parse(path, &text)
    }

    /// Validate a file's text; `path` is for messages and relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
        let file: raw::File = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .and_then(|s| line_col(text, s.start))
                .map_or((None, None), |(l, c)| (Some(l), Some(c)));
            ConfigErrors(vec![ConfigError {
                file: path.to_path_buf(),
                line,
                column,
                field: e.span().and_then(|s| key_at(text, s.start)),
                message: e.message().trim().to_string(),
            }])
        })?;
        let mut v = Validator {
            path,
            text,
            errors: Vec::new(),
        };
        let config = v.config(file);
        if v.errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(v.errors))
        }
    }

    /// What differs from `new` that only a restart applies (for the
    /// message after a reload).
    pub fn restart_only_changes(&self, new: &Config) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.capture != new.capture {
            out.push("capture");
        }
        let (a, b) = (&self.flow, &new.flow);
        if a.capacity != b.capacity
            || a.stream_prefix_bytes != b.stream_prefix_bytes
            || a.reassembly_memcap != b.reassembly_memcap
            || format!("{:?}", a.timeouts) != format!("{:?}", b.timeouts)
        {
            out.push("flow");
        }
        if self.metrics != new.metrics {
            out.push("metrics");
        }
        if self.service != new.service {
            out.push("service");
        }
        if self.outputs != new.outputs {
            out.push("outputs");
        }
        out
    }
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> Option<(usize, usize)> {
    let before = text.get(..offset.min(text.len()))?;
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Some((line, col))
}

/// The dotted key whose value sits at `offset`: the last `[table]` header
/// before it and the `key =` on its line (toml's errors give a position,
/// not a key path).
pub(crate) fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset.min(text.len()))?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text.get(line_start..)?.lines().next().unwrap_or("");
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    let header = before
        .get(..line_start)?
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let header = if line.trim_start().starts_with('[') {
        Some(
            line.trim()
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string(),
        )
    } else {
        header
    };
    match (header, key) {
        (Some(h), Some(k)) => Some(format!("{h}.{k}")),
        (Some(h), None) => Some(h),
        (None, Some(k)) => Some(k),
        (None, None) => None,
    }
}

struct Validator<'a> {
    path: &'a Path,
    text: &'a str,
    errors: Vec<ConfigError>,
}

impl Validator<'_> {
    fn error(&mut self, span: Option<std::ops::Range<usize>>, field: &str, message: String) {
        let (line, column) = span
            .and_then(|s| line_col(self.text, s.start))
            .map_or((None, None), |(l, c)| (Some(l), Some(c)));
        self.errors.push(ConfigError {
            file: self.path.to_path_buf(),
            line,
            column,
            field: Some(field.to_string()),
            message,
        });
    }

    /// A path relative to the configuration file's folder.
    fn resolve(&self, p: &str) -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            return p;
        }
        self.path.parent().map_or(p.clone(), |dir| dir.join(&p))
    }

    fn config(&mut self, f: raw::File) -> Config {
        let sensor = self.sensor(f.sensor);
        let capture = self.capture(f.capture);
        let (site_networks, site) = self.site(f.site);
        let flow = self.flow(f.flow);
        let enrich = self.geoip(f.geoip);
        let catalogue = f
            .catalogue
            .and_then(|c| c.file)
            .map(|p| self.resolve(p.get_ref()));
        let metrics = self.metrics(f.metrics);
        let service = self.service(f.service);
        Config {
            path: self.path.to_path_buf(),
            sensor,
            capture,
            site_networks,
            site,
            flow,
            enrich,
            catalogue,
            metrics,
            service,
            outputs: f.outputs,
            policy: f.policy,
        }
    }

    fn sensor(&mut self, s: raw::Sensor) -> SensorConfig {
        let name = match s.name {
            Some(n) if n.get_ref().trim().is_empty() || n.get_ref().len() > 256 => {
                self.error(
                    Some(n.span()),
                    "sensor.name",
                    "expected a non-empty name of at most 256 bytes".into(),
                );
                String::new()
            }
            Some(n) => n.into_inner(),
            None => hostname().unwrap_or_else(|| "gatewatch".to_string()),
        };
        let location = s.location.map(|l| {
            let (lat, lon) = (l.lat, l.lon);
            if let Some(why) = Location::lat_problem(*lat.get_ref()) {
                self.error(Some(lat.span()), "sensor.location.lat", why);
            }
            if let Some(why) = Location::lon_problem(*lon.get_ref()) {
                self.error(Some(lon.span()), "sensor.location.lon", why);
            }
            Location {
                lat: *lat.get_ref(),
                lon: *lon.get_ref(),
            }
        });
        SensorConfig { name, location }
    }

    fn capture(&mut self, c: raw::Capture) -> CaptureConfig {
        let workers = match c.workers {
            Some(w) if *w.get_ref() == 0 || *w.get_ref() > 1024 => {
                self.error(
                    Some(w.span()),
                    "capture.workers",
                    format!("expected 1..=1024 worker threads, got {}", w.get_ref()),
                );
                1
            }
            Some(w) => w.into_inner(),
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let mut interfaces = Vec::new();
        for (i, iface) in c.interfaces.into_iter().enumerate() {
            let field = |k: &str| format!("capture.interfaces[{i}].{k}");
            let name = iface.name.get_ref().trim().to_string();
            if name.is_empty() || name.len() > 64 {
                self.error(
                    Some(iface.name.span()),
                    &field("name"),
                    "expected an interface name (e.g. \"eth0\")".into(),
                );
            }
            let snaplen = match iface.snaplen {
                Some(s) => match i32::try_from(*s.get_ref()) {
                    Ok(v) if (64..=262_144).contains(&v) => v,
                    _ => {
                        self.error(
                            Some(s.span()),
                            &field("snaplen"),
                            format!("expected 64..=262144 bytes, got {}", s.get_ref()),
                        );
                        65535
                    }
                },
                None => 65535,
            };
            let buffer_size = iface
                .buffer_size
                .and_then(|b| match i32::try_from(*b.get_ref()) {
                    Ok(v) if v >= 65536 => Some(v),
                    _ => {
                        self.error(
                            Some(b.span()),
                            &field("buffer_size"),
                            format!("expected 65536..=2147483647 bytes, got {}", b.get_ref()),
                        );
                        None
                    }
                });
            let bpf = iface
                .bpf
                .map(|b| b.trim().to_string())
                .filter(|b| !b.is_empty());
            interfaces.push(InterfaceConfig {
                name,
                promiscuous: iface.promiscuous.unwrap_or(true),
                snaplen,
                buffer_size,
                bpf,
                immediate: iface.immediate.unwrap_or(true),
            });
        }
        if interfaces.is_empty() {
            self.error(
                None,
                "capture.interfaces",
                "expected at least one [[capture.interfaces]] table with a name".into(),
            );
        }
        CaptureConfig {
            interfaces,
            workers,
        }
    }

    fn site(&mut self, s: raw::Site) -> (Vec<String>, SiteNetworks) {
        let mut site = SiteNetworks::default();
        let mut written = Vec::new();
        for (i, net) in s.networks.into_iter().enumerate() {
            if let Err(e) = site.add_cidr(net.get_ref()) {
                self.error(Some(net.span()), &format!("site.networks[{i}]"), e);
            }
            written.push(net.into_inner());
        }
        (written, site)
    }

    fn flow(&mut self, f: raw::Flow) -> FlowConfig {
        let mut flow = FlowConfig::default();
        if let Some(n) = f.max_flows {
            if *n.get_ref() == 0 {
                self.error(
                    Some(n.span()),
                    "flow.max_flows",
                    "expected at least 1".into(),
                );
            }
            flow.capacity = n.into_inner().max(1);
        }
        if let Some(n) = f.stream_prefix {
            flow.stream_prefix_bytes = n;
        }
        if let Some(n) = f.memcap {
            flow.reassembly_memcap = n;
        }
        for (state, secs) in f.timeouts {
            let spec = format!("{state}={}", secs.get_ref());
            if let Err(e) = crate::cli::set_timeout(&mut flow.timeouts, &spec) {
                self.error(Some(secs.span()), &format!("flow.timeouts.{state}"), e);
            }
        }
        flow
    }

    fn geoip(&mut self, g: raw::Geoip) -> EnrichOptions {
        if g.disabled && (!g.databases.is_empty() || !g.directories.is_empty()) {
            self.error(
                None,
                "geoip.disabled",
                "expected either disabled = true or databases/directories, not both".into(),
            );
        }
        EnrichOptions {
            geoip_dbs: g.databases.iter().map(|p| self.resolve(p)).collect(),
            geoip_dirs: g.directories.iter().map(|p| self.resolve(p)).collect(),
            no_geoip: g.disabled,
            site_lists: g.lists.iter().map(|p| self.resolve(p)).collect(),
            max_age: Duration::from_secs(g.max_age_days.unwrap_or(30).saturating_mul(86_400)),
        }
    }

    fn metrics(&mut self, m: raw::Metrics) -> MetricsConfig {
        let default: SocketAddr = DEFAULT_METRICS_LISTEN
            .parse()
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9187)));
        let listen = match m.listen {
            Some(l) => match l.get_ref().parse::<SocketAddr>() {
                Ok(a) => a,
                Err(_) => {
                    self.error(
                        Some(l.span()),
                        "metrics.listen",
                        format!(
                            "expected ADDRESS:PORT such as \"127.0.0.1:9187\" or \"[::1]:9187\", got {:?}",
                            l.get_ref()
                        ),
                    );
                    default
                }
            },
            None => default,
        };
        MetricsConfig {
            enabled: m.enabled,
            listen,
        }
    }

    fn service(&mut self, s: raw::Service) -> ServiceConfig {
        let mut secs = |v: Option<toml::Spanned<f64>>, field: &str, default: f64, max: f64| {
            let Some(v) = v else {
                return Duration::from_secs_f64(default);
            };
            let x = *v.get_ref();
            if x.is_finite() && x >= 0.1 && x <= max {
                Duration::from_secs_f64(x)
            } else {
                self.error(
                    Some(v.span()),
                    field,
                    format!("expected 0.1..={max} seconds, got {x}"),
                );
                Duration::from_secs_f64(default)
            }
        };
        ServiceConfig {
            stats_interval: secs(s.stats_interval, "service.stats_interval", 60.0, 86_400.0),
            shutdown_timeout: secs(s.shutdown_timeout, "service.shutdown_timeout", 10.0, 600.0),
        }
    }
}

/// The machine's name, the default sensor name.
fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests;
