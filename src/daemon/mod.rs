//! The gateway service: `gatewatch run --config FILE` and
//! `gatewatch check-config FILE`.
//!
//! The service captures on the configured interfaces (`pipeline::service`),
//! reloads on SIGHUP, stops cleanly on SIGTERM/SIGINT within the configured
//! bound, tells systemd where it stands (`notify`) and optionally serves
//! Prometheus metrics (`metrics`).
//!
//! Reload (SIGHUP): the file is read and validated in full, and its GeoIP
//! databases and lists opened, before anything changes; a broken file keeps
//! the running configuration and the reason is logged. What a reload
//! changes: the sensor name, the site networks (in band, between two
//! frames: no flow is lost), GeoIP databases and lists. Capture, flow-table,
//! metrics and output settings need a restart, and the log says so.

pub mod metrics;
pub mod notify;
#[cfg(feature = "live")]
mod run;

use crate::output::sink::{OutputsConfig, Router};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cli::{EXIT_OK, EXIT_USAGE};
use crate::config::Config;

/// Where the pipeline writes events, and the sinks' router behind it when
/// `[outputs]` names sinks.
pub type EventSink = (Box<dyn Write + Send>, Option<Arc<Router>>);

/// Where events go: the sinks of `[outputs]` when it names any; else the
/// file given with `-o` (appended to, so a restart keeps what was written),
/// or standard output (journald under systemd).
pub fn open_event_sink(
    output: Option<&Path>,
    outputs: Option<&toml::Table>,
) -> io::Result<EventSink> {
    if let Some(cfg) = outputs_config(outputs).map_err(io::Error::other)? {
        if !cfg.sinks.is_empty() {
            let router = Arc::new(
                Router::new(&cfg).map_err(|e| io::Error::other(format!("outputs: {e:#}")))?,
            );
            let writer = RouterWriter {
                router: router.clone(),
                pending: Vec::with_capacity(1 << 16),
            };
            return Ok((Box::new(writer), Some(router)));
        }
    }
    Ok((
        match output {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
                Box::new(BufWriter::with_capacity(1 << 16, file))
            }
            None => Box::new(BufWriter::with_capacity(1 << 16, io::stdout())),
        },
        None,
    ))
}

/// The `[outputs]` table as the sinks' configuration, validated (`None`
/// when absent). Errors name the field.
pub fn outputs_config(outputs: Option<&toml::Table>) -> Result<Option<OutputsConfig>, String> {
    let Some(table) = outputs else {
        return Ok(None);
    };
    let cfg: OutputsConfig = toml::Value::Table(table.clone())
        .try_into()
        .map_err(|e| format!("[outputs]: {e}"))?;
    cfg.validate().map_err(|e| format!("[outputs]: {e}"))?;
    Ok(Some(cfg))
}

/// Events written by the pipeline, handed to the sinks one line at a time
/// (the router queues them; a slow sink never blocks capture).
struct RouterWriter {
    router: Arc<Router>,
    /// Bytes of a line not yet ended by `\n`.
    pending: Vec<u8>,
}

impl Write for RouterWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        let mut start = 0;
        while let Some(n) = self
            .pending
            .get(start..)
            .and_then(|r| r.iter().position(|&b| b == b'\n'))
        {
            let end = start + n + 1;
            if let Some(line) = self.pending.get(start..end) {
                self.router.send(line);
            }
            start = end;
        }
        self.pending.drain(..start);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `gatewatch check-config FILE`: 0 when the file is valid and every file
/// it names opens; 2 with one message per problem otherwise.
pub fn check_config(path: &Path) -> u8 {
    match validate(path) {
        Ok(config) => {
            let names: Vec<&str> = config
                .capture
                .interfaces
                .iter()
                .map(|i| i.name.as_str())
                .collect();
            let policy = match service_policy(path, &config) {
                Ok(p) if p.identities.is_empty() => "policy: no identities".to_string(),
                Ok(p) => format!("policy: {} identities", p.identities.len()),
                Err(_) => "policy: invalid".to_string(),
            };
            println!(
                "{}: OK (sensor {:?}; capture on {}; {} workers; metrics {}; {policy})",
                path.display(),
                config.sensor.name,
                names.join(", "),
                config.capture.workers,
                if config.metrics.enabled {
                    config.metrics.listen.to_string()
                } else {
                    "off".to_string()
                }
            );
            EXIT_OK
        }
        Err(messages) => {
            for m in messages {
                eprintln!("gatewatch: {m}");
            }
            EXIT_USAGE
        }
    }
}

/// Everything `check-config` and a reload check: the file itself, then the
/// files it names (databases, lists, catalogue) and the BPF filters.
pub fn validate(path: &Path) -> Result<Config, Vec<String>> {
    let config =
        Config::load(path).map_err(|e| e.0.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
    let mut problems = Vec::new();
    if let Err(e) = config.enrich.build() {
        problems.push(format!("{}: [geoip]: {e}", path.display()));
    }
    if let Err(e) = outputs_config(config.outputs.as_ref()) {
        problems.push(format!("{}: {e}", path.display()));
    }
    if let Err(e) = service_policy(path, &config) {
        problems.extend(e);
    }
    if let Some(cat) = &config.catalogue {
        if let Err(e) = crate::catalogue::Catalogue::with_site_entries(cat) {
            problems.push(format!("{}: catalogue.file: {e}", path.display()));
        }
    }
    for (i, iface) in config.capture.interfaces.iter().enumerate() {
        if let Some(bpf) = &iface.bpf {
            if let Err(e) = check_bpf(bpf, iface.snaplen) {
                problems.push(format!(
                    "{}: capture.interfaces[{i}].bpf: expected a valid tcpdump filter: {e}",
                    path.display()
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems)
    }
}

/// The detection policy a service configuration gives: its `[policy]`
/// table (the embedded default without one), located at `[sensor]
/// location` unless the policy says otherwise.
pub fn service_policy(path: &Path, config: &Config) -> Result<crate::detect::Policy, Vec<String>> {
    let policy = crate::detect::Policy::from_service_config(path)
        .map_err(|e| e.0.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
    let mut policy = policy.unwrap_or_else(crate::detect::Policy::default_policy);
    if policy.sensor_location.is_none() {
        policy.sensor_location = config.sensor.location;
    }
    if let Some(map) = &policy.identity_map {
        if let Err(e) = crate::detect::identity::load_map(map) {
            return Err(vec![format!(
                "{}: policy.identity_map.file: {e}",
                path.display()
            )]);
        }
    }
    Ok(policy)
}

/// Compile a filter for Ethernet without opening a device.
#[cfg(feature = "live")]
fn check_bpf(expr: &str, snaplen: i32) -> Result<(), String> {
    let _ = snaplen;
    let cap = pcap::Capture::dead(pcap::Linktype::ETHERNET).map_err(|e| e.to_string())?;
    cap.compile(expr, true)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(not(feature = "live"))]
fn check_bpf(_expr: &str, _snaplen: i32) -> Result<(), String> {
    // Filters are compiled by libpcap, which only the live build links.
    Ok(())
}

/// `gatewatch run`: the service. Without the `live` feature it says how to
/// get it.
pub fn run(config: Option<PathBuf>, output: Option<PathBuf>) -> u8 {
    let path = config.unwrap_or_else(|| PathBuf::from(crate::config::DEFAULT_PATH));
    run_service(&path, output.as_deref())
}

#[cfg(feature = "live")]
fn run_service(path: &Path, output: Option<&Path>) -> u8 {
    run::run(path, output)
}

#[cfg(not(feature = "live"))]
fn run_service(path: &Path, _output: Option<&Path>) -> u8 {
    eprintln!(
        "gatewatch run: this gatewatch was built without live capture, which the service needs; \
         rebuild with `cargo build --release --features live` (needs libpcap-dev), \
         or install with scripts/install.sh. ({} was not read; `gatewatch check-config {}` validates it.)",
        path.display(),
        path.display()
    );
    EXIT_USAGE
}
