//! Command-line interface: raw arguments (clap) are turned into a validated
//! [`PipelineConfig`] before anything runs.
//!
//! Exit codes: 0 success; 1 an input failed (corrupt or truncated capture,
//! capture device error) after everything before the failure was processed
//! and emitted; 2 usage or configuration error; 3 the output could not be
//! written.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::enrich::setup::EnrichOptions;
use crate::enrich::SharedSources;
use crate::flow::table::Timeouts;
use crate::pipeline::{self, PipelineConfig, RunOutcome};
use crate::site::SiteNetworks;

pub const EXIT_OK: u8 = 0;
pub const EXIT_INPUT: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_OUTPUT: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "gatewatch",
    version,
    about = "Gateway sensor: flags remote-access sessions from laptop farms, VPN exits and unexpected geographies",
    after_help = "Exit codes: 0 success; 1 an input failed after what preceded it was processed; \
                  2 usage or configuration error; 3 output could not be written."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse capture files (pcap, pcapng; .gz/.zst too) or a live interface
    /// and write events as JSON lines.
    Analyze(AnalyzeArgs),
    /// Run as the gateway service (live capture daemon).
    Run(RunArgs),
    /// Validate a service configuration file (exit 2 with one message per
    /// problem).
    CheckConfig {
        /// The configuration file, e.g. /etc/gatewatch/gatewatch.toml.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// GeoIP database tools.
    Geoip(GeoipArgs),
}

#[derive(Debug, Args)]
pub struct GeoipArgs {
    #[command(subcommand)]
    pub command: GeoipCommand,
}

#[derive(Debug, Subcommand)]
pub enum GeoipCommand {
    /// Build a MaxMind DB (.mmdb) file from a gatewatch JSON source
    /// (see geoip/README.md).
    Build {
        /// The JSON source, e.g. geoip/source/city.json.
        #[arg(value_name = "SOURCE")]
        source: PathBuf,
        /// The database to write.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: PathBuf,
    },
    /// Print what gatewatch knows of addresses, from every configured source.
    Lookup {
        #[command(flatten)]
        enrich: EnrichArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = LookupFormat::Table)]
        format: LookupFormat,
        /// Addresses to look up.
        #[arg(value_name = "ADDR", required = true)]
        addrs: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LookupFormat {
    Table,
    Json,
}

/// Where enrichment data comes from (shared by `analyze` and `geoip lookup`).
#[derive(Debug, Clone, Args)]
pub struct EnrichArgs {
    /// A GeoIP2/GeoLite2 database (City, Country, ASN, Anonymous-IP,
    /// Connection-Type, ISP, Enterprise...), its kind read from its metadata
    /// (repeatable). Given, it replaces the embedded demo databases.
    #[arg(long = "geoip-db", value_name = "FILE")]
    pub geoip_dbs: Vec<PathBuf>,

    /// Every .mmdb file of a directory, e.g. geoipupdate's DatabaseDirectory
    /// (repeatable). Replaced files are picked up during live capture.
    #[arg(long = "geoip-dir", value_name = "DIR")]
    pub geoip_dirs: Vec<PathBuf>,

    /// No GeoIP at all (not even the demo databases).
    #[arg(long, conflicts_with_all = ["geoip_dbs", "geoip_dirs"])]
    pub no_geoip: bool,

    /// A labelled network list of the site's own: `.txt` (CIDR [LABEL] a
    /// line) or `.csv` (network,label,ATTR...) (repeatable).
    #[arg(long = "site-list", value_name = "FILE")]
    pub site_lists: Vec<PathBuf>,

    /// Warn when a GeoIP database is older than this many days.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub geoip_max_age: u64,
}

impl EnrichArgs {
    fn options(&self) -> EnrichOptions {
        EnrichOptions {
            geoip_dbs: self.geoip_dbs.clone(),
            geoip_dirs: self.geoip_dirs.clone(),
            no_geoip: self.no_geoip,
            site_lists: self.site_lists.clone(),
            max_age: std::time::Duration::from_secs(self.geoip_max_age.saturating_mul(86_400)),
        }
    }
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub enrich: EnrichArgs,

    /// Capture files, read in the order given.
    #[arg(value_name = "FILE", required_unless_present = "interface")]
    pub files: Vec<PathBuf>,

    /// Capture live from this interface instead of reading files (needs the
    /// `live` build feature).
    #[arg(long, short = 'i', value_name = "IFACE", conflicts_with = "files")]
    pub interface: Option<String>,

    /// BPF filter for live capture.
    #[arg(long, value_name = "EXPR", requires = "interface")]
    pub bpf: Option<String>,

    /// Stop a live capture after this many seconds.
    #[arg(long, value_name = "SECS", requires = "interface")]
    pub duration: Option<f64>,

    /// Write events here instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Worker threads (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,

    /// A network that belongs to the site, besides the private ranges
    /// (repeatable).
    #[arg(long = "site-net", value_name = "CIDR")]
    pub site_nets: Vec<String>,

    /// Most flows held at once (all workers together).
    #[arg(long, value_name = "N", default_value_t = 262_144)]
    pub max_flows: usize,

    /// Addresses the DNS name cache holds (per worker; 0 turns
    /// `remote_names` off).
    #[arg(long, value_name = "N", default_value_t = 65_536)]
    pub dns_cache: usize,

    /// Bytes of each TCP direction reassembled for the dissectors.
    #[arg(long, value_name = "BYTES", default_value_t = 65536)]
    pub stream_prefix: usize,

    /// Do not run the protocol dissectors (and reassemble nothing): flows
    /// only, for comparison in benchmarks.
    #[arg(long)]
    pub no_dissectors: bool,

    /// Bytes all stream prefixes may hold together (all workers).
    #[arg(long, value_name = "BYTES", default_value_t = 256 << 20)]
    pub reassembly_memcap: usize,

    /// A site's own remote-access catalogue entries (TOML, the format of
    /// catalogue/remote-access.toml), added to the embedded catalogue.
    #[arg(long, value_name = "FILE")]
    pub catalogue: Option<PathBuf>,

    /// The detection policy (TOML, docs/policy.md): a policy file, or a
    /// service configuration whose [policy] table is used. Without it, the
    /// embedded default policy applies.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Where the sensor is, as LAT,LON (degrees), for the latency rule;
    /// wins over the policy's [sensor] location.
    #[arg(long, value_name = "LAT,LON", allow_hyphen_values = true)]
    pub sensor_location: Option<String>,

    /// Do not run detection: sessions carry no findings, no alerts.
    #[arg(long)]
    pub no_detect: bool,

    /// An idle timeout, as STATE=SECONDS (repeatable). States: tcp-new,
    /// tcp-established, tcp-closed (the linger after FIN/RST), udp-new,
    /// udp-established, other. Defaults: 60, 600, 10, 30, 300, 60.
    #[arg(long = "timeout", value_name = "STATE=SECS")]
    pub timeouts: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The service's configuration file (default
    /// /etc/gatewatch/gatewatch.toml).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Append events to this file instead of writing them to standard
    /// output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Analyze(args) => analyze(args),
        Command::Run(args) => crate::daemon::run(args.config, args.output),
        Command::CheckConfig { file } => crate::daemon::check_config(&file),
        Command::Geoip(args) => geoip(args),
    };
    ExitCode::from(code)
}

fn geoip(args: GeoipArgs) -> u8 {
    use crate::enrich::build::{build_mmdb, BuildError};
    match args.command {
        GeoipCommand::Lookup {
            enrich,
            format,
            addrs,
        } => geoip_lookup(&enrich, format, &addrs),
        GeoipCommand::Build { source, output } => match build_mmdb(&source, &output) {
            Ok(s) => {
                eprintln!(
                    "gatewatch: wrote {} ({}, {} networks, {} bytes)",
                    output.display(),
                    s.database_type,
                    s.networks,
                    s.bytes
                );
                EXIT_OK
            }
            Err(e @ BuildError::Write { .. }) => {
                eprintln!("gatewatch: {e}");
                EXIT_OUTPUT
            }
            Err(e) => {
                eprintln!("gatewatch: {e}");
                EXIT_INPUT
            }
        },
    }
}

fn analyze(args: AnalyzeArgs) -> u8 {
    let mut config = match pipeline_config(&args) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("gatewatch: {msg}");
            return EXIT_USAGE;
        }
    };
    let enrich = args.enrich.options();
    let built = match enrich.build() {
        Ok(b) => b,
        Err(msg) => {
            eprintln!("gatewatch: {msg}");
            return EXIT_USAGE;
        }
    };
    for line in enrich.startup_report(&built) {
        eprintln!("gatewatch: {line}");
    }
    config.enrich = Some(SharedSources::new(built.sources));
    let mut sink: Box<dyn Write + Send> = match &args.output {
        Some(path) => match File::create(path) {
            Ok(f) => Box::new(BufWriter::with_capacity(1 << 16, f)),
            Err(e) => {
                eprintln!("gatewatch: cannot create {}: {e}", path.display());
                return EXIT_OUTPUT;
            }
        },
        None => Box::new(BufWriter::with_capacity(1 << 16, io::stdout())),
    };
    let result = match &args.interface {
        Some(iface) => run_live(iface, &args, &config, &mut sink),
        None => pipeline::run_files(&args.files, &config, &mut sink),
    };
    if let Ok(outcome) = &result {
        print_alert_summary(outcome);
    }
    match result {
        Ok(RunOutcome { error: None, .. }) => EXIT_OK,
        Ok(RunOutcome { error: Some(e), .. }) => {
            eprintln!("gatewatch: {e}");
            EXIT_INPUT
        }
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(e) => {
            eprintln!("gatewatch: writing events: {e}");
            EXIT_OUTPUT
        }
    }
}

/// The alerts of the run, one line each, on standard error (the events on
/// standard output stay machine-readable).
fn print_alert_summary(outcome: &RunOutcome) {
    let Some(d) = &outcome.stats.detect else {
        return;
    };
    eprintln!(
        "gatewatch: {} sessions, {} alerts ({} more held back by deduplication)",
        d.sessions, d.alerts, d.suppressed
    );
    for line in &d.alert_lines {
        eprintln!("gatewatch: alert {line}");
    }
    if d.alerts as usize > d.alert_lines.len() {
        eprintln!(
            "gatewatch: ... {} more alerts in the output",
            d.alerts as usize - d.alert_lines.len()
        );
    }
}

fn pipeline_config(args: &AnalyzeArgs) -> Result<PipelineConfig, String> {
    let workers = match args.workers {
        Some(0) => return Err("--workers must be at least 1".into()),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let mut config = PipelineConfig {
        workers,
        ..PipelineConfig::default()
    };
    if args.max_flows == 0 {
        return Err("--max-flows must be at least 1".into());
    }
    config.flow.capacity = args.max_flows;
    config.flow.stream_prefix_bytes = args.stream_prefix;
    if args.no_dissectors {
        config.dissect = false;
        config.flow.stream_prefix_bytes = 0;
    }
    config.dns_cache = args.dns_cache;
    config.flow.reassembly_memcap = args.reassembly_memcap;
    for t in &args.timeouts {
        set_timeout(&mut config.flow.timeouts, t).map_err(|e| format!("--timeout {t}: {e}"))?;
    }
    let mut site = SiteNetworks::default();
    for cidr in &args.site_nets {
        site.add_cidr(cidr)
            .map_err(|e| format!("--site-net {cidr}: {e}"))?;
    }
    config.site = site;
    if let Some(path) = &args.catalogue {
        let c = crate::catalogue::Catalogue::with_site_entries(path)
            .map_err(|e| format!("--catalogue: {e}"))?;
        config.catalogue = std::sync::Arc::new(c);
    }
    if !args.no_detect {
        let location = args
            .sensor_location
            .as_deref()
            .map(parse_location)
            .transpose()
            .map_err(|e| format!("--sensor-location: {e}"))?;
        let policy = match &args.config {
            Some(path) => load_policy(path)?,
            None => crate::detect::Policy::default_policy(),
        };
        policy.extend_site(&mut config.site);
        config.detect = Some(crate::detect::DetectConfig::new(policy, location));
    }
    Ok(config)
}

/// `LAT,LON` in degrees.
pub fn parse_location(s: &str) -> Result<crate::config::Location, String> {
    let (lat, lon) = s
        .split_once(',')
        .ok_or_else(|| format!("expected LAT,LON (e.g. 45.46,9.19), found {s:?}"))?;
    let lat: f64 = lat
        .trim()
        .parse()
        .map_err(|_| format!("latitude: expected a number, found {lat:?}"))?;
    let lon: f64 = lon
        .trim()
        .parse()
        .map_err(|_| format!("longitude: expected a number, found {lon:?}"))?;
    use crate::config::Location;
    if let Some(why) = Location::lat_problem(lat).or_else(|| Location::lon_problem(lon)) {
        return Err(why);
    }
    Ok(Location { lat, lon })
}

/// A policy file, or a service configuration's `[policy]` (its `[sensor]
/// location` too).
fn load_policy(path: &std::path::Path) -> Result<crate::detect::Policy, String> {
    use crate::detect::Policy;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let is_service = text
        .parse::<toml::Table>()
        .is_ok_and(|t| t.contains_key("policy") || t.contains_key("capture"));
    if !is_service {
        return Policy::parse(path, &text).map_err(|e| e.to_string());
    }
    let service = crate::config::Config::parse(path, &text).map_err(|e| e.to_string())?;
    crate::daemon::service_policy(path, &service).map_err(|problems| problems.join("\n"))
}

/// `gatewatch geoip lookup`: every source's answer for each address.
fn geoip_lookup(enrich: &EnrichArgs, format: LookupFormat, addrs: &[String]) -> u8 {
    let options = enrich.options();
    let built = match options.build() {
        Ok(b) => b,
        Err(msg) => {
            eprintln!("gatewatch: {msg}");
            return EXIT_USAGE;
        }
    };
    if format == LookupFormat::Table {
        for line in options.startup_report(&built) {
            eprintln!("gatewatch: {line}");
        }
    }
    let mut out = io::stdout().lock();
    for text in addrs {
        let Ok(addr) = text.trim().parse::<std::net::IpAddr>() else {
            eprintln!("gatewatch: {text:?} is not an IPv4 or IPv6 address");
            return EXIT_USAGE;
        };
        let info = built.sources.lookup(addr);
        let written = match format {
            LookupFormat::Json => {
                let value = serde_json::json!({"ip": addr, "geo": info.geo, "labels": info.labels});
                writeln!(out, "{value}")
            }
            LookupFormat::Table => write_lookup_table(&mut out, addr, &info),
        };
        if written.is_err() {
            return EXIT_OUTPUT;
        }
    }
    EXIT_OK
}

fn write_lookup_table(
    out: &mut impl Write,
    addr: std::net::IpAddr,
    info: &crate::enrich::RemoteInfo,
) -> io::Result<()> {
    writeln!(out, "{addr}")?;
    let geo = serde_json::to_value(&info.geo).unwrap_or_default();
    let mut any = false;
    if let Some(map) = geo.as_object() {
        for (k, v) in map {
            any = true;
            match v.as_object() {
                Some(flags) => {
                    let set: Vec<&str> = flags
                        .iter()
                        .filter(|(_, b)| b.as_bool() == Some(true))
                        .map(|(f, _)| f.as_str())
                        .collect();
                    let shown = if set.is_empty() {
                        "none".to_string()
                    } else {
                        set.join(", ")
                    };
                    writeln!(out, "  {k:<16} {shown}")?;
                }
                None => writeln!(
                    out,
                    "  {k:<16} {}",
                    v.as_str().map_or(v.to_string(), str::to_string)
                )?,
            }
        }
    }
    for m in &info.labels {
        any = true;
        writeln!(
            out,
            "  {:<16} {} ({} in {})",
            "label", m.label, m.network, m.list
        )?;
    }
    if !any {
        writeln!(out, "  (no source knows this address)")?;
    }
    writeln!(out)
}

/// Apply one `STATE=SECONDS` timeout setting.
pub(crate) fn set_timeout(t: &mut Timeouts, spec: &str) -> Result<(), String> {
    let (state, secs) = spec
        .split_once('=')
        .ok_or("expected STATE=SECONDS, e.g. tcp-established=3600")?;
    let secs: f64 = secs
        .trim()
        .parse()
        .map_err(|_| format!("{secs:?} is not a number of seconds"))?;
    if !(secs.is_finite() && secs > 0.0 && secs <= 86_400.0 * 365.0) {
        return Err(format!("{secs} seconds is out of range (0, one year]"));
    }
    let ns = (secs * 1e9) as u64;
    let slot = match state.trim() {
        "tcp-new" => &mut t.tcp_new_ns,
        "tcp-established" => &mut t.tcp_established_ns,
        "tcp-closed" => &mut t.tcp_closed_ns,
        "udp-new" => &mut t.udp_new_ns,
        "udp-established" => &mut t.udp_established_ns,
        "other" => &mut t.other_ns,
        other => {
            return Err(format!(
                "unknown state {other:?} (tcp-new, tcp-established, tcp-closed, udp-new, udp-established, other)"
            ))
        }
    };
    *slot = ns;
    Ok(())
}

#[cfg(feature = "live")]
fn run_live(
    iface: &str,
    args: &AnalyzeArgs,
    config: &PipelineConfig,
    sink: &mut (dyn Write + Send),
) -> io::Result<RunOutcome> {
    use crate::capture::live::{LiveOptions, LiveSource};
    let opts = LiveOptions {
        interface: iface.to_string(),
        bpf: args.bpf.clone(),
        duration: args.duration.map(std::time::Duration::from_secs_f64),
        ..LiveOptions::default()
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reloader = config
        .enrich
        .as_ref()
        .and_then(|shared| start_reloader(shared, &args.enrich, &stop));
    let result = match LiveSource::open(&opts) {
        Ok(mut source) => pipeline::run_source(&mut source, config, &mut &mut *sink),
        Err(e) => Ok(RunOutcome {
            stats: Default::default(),
            error: Some(e),
        }),
    };
    stop.store(true, std::sync::atomic::Ordering::Release);
    if let Some(handle) = reloader {
        let _ = handle.join();
    }
    result
}

/// During live capture, reload databases and lists on SIGHUP and when a
/// file is replaced (checked every 2 s). Messages go to standard error.
#[cfg(feature = "live")]
fn start_reloader(
    shared: &std::sync::Arc<SharedSources>,
    enrich: &EnrichArgs,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Option<std::thread::JoinHandle<()>> {
    use crate::enrich::reload::{ReloadOutcome, Reloader};
    let options = enrich.options();
    let build_options = options.clone();
    let reloader = Reloader::new(
        shared.clone(),
        options.watched_files(),
        Box::new(move || build_options.build().map(|b| b.sources)),
    );
    if let Err(e) = reloader.reload_on_sighup() {
        eprintln!("gatewatch: cannot catch SIGHUP ({e}): files are still watched");
    }
    let report = |outcome: &ReloadOutcome| match outcome {
        ReloadOutcome::Reloaded => eprintln!("gatewatch: GeoIP databases and site lists reloaded"),
        ReloadOutcome::Refused(why) => {
            eprintln!(
                "gatewatch: reload refused, the previous databases and lists stay in use: {why}"
            )
        }
        ReloadOutcome::Unchanged => {}
    };
    match reloader.spawn(std::time::Duration::from_secs(2), stop.clone(), report) {
        Ok(handle) => Some(handle),
        Err(e) => {
            eprintln!("gatewatch: cannot start the reload thread: {e}");
            None
        }
    }
}

#[cfg(not(feature = "live"))]
fn run_live(
    iface: &str,
    _args: &AnalyzeArgs,
    _config: &PipelineConfig,
    _sink: &mut (dyn Write + Send),
) -> io::Result<RunOutcome> {
    Ok(RunOutcome {
        stats: Default::default(),
        error: Some(crate::capture::CaptureError::Live {
            interface: iface.to_string(),
            message: "this gatewatch was built without live capture; rebuild with `cargo build --release --features live` (needs libpcap-dev)".into(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_settings() {
        let mut t = Timeouts::default();
        set_timeout(&mut t, "tcp-established=3600").unwrap();
        assert_eq!(t.tcp_established_ns, 3_600_000_000_000);
        set_timeout(&mut t, "udp-new=0.5").unwrap();
        assert_eq!(t.udp_new_ns, 500_000_000);
        assert!(set_timeout(&mut t, "tcp=5")
            .unwrap_err()
            .contains("unknown state"));
        assert!(set_timeout(&mut t, "other=-1")
            .unwrap_err()
            .contains("out of range"));
        assert!(set_timeout(&mut t, "other")
            .unwrap_err()
            .contains("STATE=SECONDS"));
        assert!(set_timeout(&mut t, "other=abc")
            .unwrap_err()
            .contains("not a number"));
    }
}
