//! The site policy: who the identities are, what is expected of them, the
//! allowlists and every rule's thresholds (docs/policy.md).
//!
//! Reading has the two stages of the service configuration ([`raw`] is the
//! shape serde checks; [`Policy::parse`] checks the values with their
//! positions), and every error names the file, line, column and field.
//! A policy is immutable once built: a reload builds a new one and swaps it
//! in whole ([`PolicyHandle`]), so a broken file never half-applies.

pub mod raw;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use ipnet::IpNet;
use toml::Spanned;

use super::finding::{RuleId, Severity};
use crate::config::{ConfigError, ConfigErrors, Location};
use crate::prefix::PrefixTable;

/// The embedded default policy: no identities, every rule that needs no
/// configuration on (docs/policy.md, "The default policy").
pub const DEFAULT_POLICY: &str = include_str!("default-policy.toml");

/// Most identities a policy may declare (each costs a few maps entries).
pub const MAX_IDENTITIES: usize = 100_000;

/// Where the current policy is read from, shared by the detector and the
/// reload path. Readers clone the `Arc` once per session.
pub type PolicyHandle = Arc<RwLock<Arc<Policy>>>;

/// A kind of network the remote end is on (from GeoIP2 Connection-Type and
/// Anonymous-IP data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NetKind {
    Residential,
    Corporate,
    Mobile,
    Satellite,
    Hosting,
}

impl NetKind {
    fn parse(s: &str) -> Option<NetKind> {
        Some(match s {
            "residential" => NetKind::Residential,
            "corporate" => NetKind::Corporate,
            "mobile" => NetKind::Mobile,
            "satellite" => NetKind::Satellite,
            "hosting" => NetKind::Hosting,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NetKind::Residential => "residential",
            NetKind::Corporate => "corporate",
            NetKind::Mobile => "mobile",
            NetKind::Satellite => "satellite",
            NetKind::Hosting => "hosting",
        }
    }
}

/// Local working time: minutes after midnight `[start, end)` on the days
/// of `days` (bit 0 Monday .. bit 6 Sunday). `end < start` spans midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingTime {
    pub start_min: u16,
    pub end_min: u16,
    pub days: u8,
}

impl WorkingTime {
    /// Is local `weekday` (0 Monday) at `minute` after midnight working
    /// time?
    pub fn contains(&self, weekday: u32, minute: u16) -> bool {
        let day_ok = |d: u32| self.days & (1 << (d % 7)) != 0;
        if self.start_min <= self.end_min {
            day_ok(weekday) && minute >= self.start_min && minute < self.end_min
        } else if minute >= self.start_min {
            day_ok(weekday)
        } else {
            // After midnight: the shift began the day before.
            minute < self.end_min && day_ok(weekday + 6)
        }
    }
}

/// What is expected of an identity; each part falls back to the policy's
/// `[defaults]`.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// Upper-case ISO codes (regions expanded); empty: any.
    pub countries: Vec<String>,
    pub network_kinds: Vec<NetKind>,
    pub time_zone: Option<chrono_tz::Tz>,
    /// Needs `time_zone`.
    pub working: Option<WorkingTime>,
    /// Lower-case tool names; empty: any.
    pub tools: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityKind {
    Contractor,
    Employee,
}

/// One configured identity.
#[derive(Debug, Clone)]
pub struct IdentityDef {
    pub name: String,
    pub kind: IdentityKind,
    pub expect: Expect,
    /// Has issued laptops (addresses, MACs or device names).
    pub has_laptop: bool,
}

/// A watched service: an address or network, with a port or any port.
#[derive(Debug, Clone)]
pub struct ServiceMatch {
    pub net: Option<IpNet>,
    pub port: Option<u16>,
}

impl ServiceMatch {
    pub fn matches(&self, addr: IpAddr, port: u16) -> bool {
        self.net.is_none_or(|n| n.contains(&addr)) && self.port.is_none_or(|p| p == port)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Allow {
    pub networks: Vec<IpNet>,
    /// Lower case.
    pub tools: Vec<String>,
    pub identities: Vec<String>,
}

impl Allow {
    pub fn address(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|n| n.contains(&ip))
    }
}

/// What every rule takes.
#[derive(Debug, Clone, Copy)]
pub struct RuleCommon {
    pub enabled: bool,
    pub severity: Severity,
    pub score: u32,
}

#[derive(Debug, Clone)]
pub struct AnonymizerRule {
    pub common: RuleCommon,
    /// Hosting networks count (with a lower score than VPN/Tor/proxy).
    pub include_hosting: bool,
    /// Anonymous Plus confidence below this is ignored.
    pub min_confidence: u8,
    /// Site-list labels (or list names) that mean "anonymizer".
    pub list_labels: Vec<String>,
    pub hosting_asns: Vec<u32>,
}

#[derive(Debug, Clone)]
pub struct SharedEgressRule {
    pub common: RuleCommon,
    pub min_identities: usize,
    pub window_s: u64,
    pub prefix_v4: u8,
    pub prefix_v6: u8,
    pub exempt_connection_types: Vec<String>,
    pub max_egresses_per_identity: usize,
    pub max_countries_per_identity: usize,
}

#[derive(Debug, Clone)]
pub struct TravelRule {
    pub common: RuleCommon,
    pub max_speed_kmh: f64,
    /// Hops shorter than this (after accuracy radii) never count.
    pub min_distance_km: f64,
}

#[derive(Debug, Clone)]
pub struct LatencyRule {
    pub common: RuleCommon,
    pub fibre_km_per_ms: f64,
    pub slack_ms: f64,
    /// "Far above": RTT over `max_ratio` times the distance's minimum plus
    /// `far_slack_ms`.
    pub max_ratio: f64,
    pub far_slack_ms: f64,
    /// Anycast/CDN networks, where the address's location is not where the
    /// answering host is.
    pub exempt_asns: Vec<u32>,
}

#[derive(Debug, Clone)]
pub struct RelayedRule {
    pub common: RuleCommon,
    pub min_ratio: f64,
    pub min_gap_ms: f64,
    /// Application round trips above this are an endpoint waiting, not a
    /// path.
    pub max_app_rtt_ms: f64,
}

#[derive(Debug, Clone)]
pub struct TunnelRule {
    pub common: RuleCommon,
    pub max_mss_v4: u16,
    pub max_mss_v6: u16,
    pub exempt_connection_types: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct OffHoursRule {
    pub common: RuleCommon,
    pub min_sessions: usize,
    pub window_s: u64,
}

/// Every rule's settings.
#[derive(Debug, Clone)]
pub struct Rules {
    pub unexpected_geography: RuleCommon,
    pub anonymizer_exit: AnonymizerRule,
    pub shared_egress: SharedEgressRule,
    pub impossible_travel: TravelRule,
    pub latency_geography_mismatch: LatencyRule,
    pub relayed_session: RelayedRule,
    pub tunnel_indicators: TunnelRule,
    pub remote_control_tool: RuleCommon,
    pub off_hours: OffHoursRule,
    pub unknown_identity: RuleCommon,
}

impl Rules {
    pub fn common(&self, rule: RuleId) -> RuleCommon {
        match rule {
            RuleId::UnexpectedGeography => self.unexpected_geography,
            RuleId::AnonymizerExit => self.anonymizer_exit.common,
            RuleId::SharedEgress => self.shared_egress.common,
            RuleId::ImpossibleTravel => self.impossible_travel.common,
            RuleId::LatencyGeographyMismatch => self.latency_geography_mismatch.common,
            RuleId::RelayedSession => self.relayed_session.common,
            RuleId::TunnelIndicators => self.tunnel_indicators.common,
            RuleId::RemoteControlTool => self.remote_control_tool,
            RuleId::OffHours => self.off_hours.common,
            RuleId::UnknownIdentity => self.unknown_identity,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AlertSettings {
    pub min_score: u32,
    pub dedup_window_s: u64,
}

#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub path: Option<PathBuf>,
    pub max_identities: usize,
    pub max_egresses: usize,
    pub retention_s: u64,
}

/// A validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The file it came from (`None`: the embedded default).
    pub source: Option<PathBuf>,
    /// `[sensor] name`, for the `stats` events of `analyze`.
    pub sensor_name: Option<String>,
    pub sensor_location: Option<Location>,
    /// `[sensor] networks`: the site's own networks, added to the private
    /// ranges and to `--site-net` / the service's `[site] networks`.
    pub site_networks: Vec<IpNet>,
    /// Empty: every remote-access session to a site address is watched.
    pub watch: Vec<ServiceMatch>,
    pub defaults: Expect,
    pub identities: Vec<IdentityDef>,
    pub identity_map: Option<PathBuf>,
    pub allow: Allow,
    pub alerts: AlertSettings,
    pub store: StoreSettings,
    pub rules: Rules,
    index: IdentityIndex,
}

/// How sessions find their configured identity (indexes into
/// `Policy::identities`).
#[derive(Debug, Clone, Default)]
struct IdentityIndex {
    rdp_users: HashMap<String, usize>,
    device_names: HashMap<String, usize>,
    laptop_macs: HashMap<String, usize>,
    laptops: PrefixTable<usize>,
    sources: PrefixTable<usize>,
    by_name: HashMap<String, usize>,
}

impl Policy {
    /// Add the policy's `[sensor] networks` to a site's networks.
    pub fn extend_site(&self, site: &mut crate::site::SiteNetworks) {
        for n in &self.site_networks {
            // Validated when the policy was read.
            let _ = site.add_cidr(&n.to_string());
        }
    }

    /// The embedded default policy.
    pub fn default_policy() -> Policy {
        // The embedded text is checked by a unit test; should it ever fail,
        // an empty policy (all defaults) is still the documented default.
        Policy::parse(Path::new("<embedded default policy>"), DEFAULT_POLICY)
            .unwrap_or_else(|_| empty())
    }

    /// Read a policy file (the keys at the top level).
    pub fn load(path: &Path) -> Result<Policy, ConfigErrors> {
        let text = read(path)?;
        Policy::parse(path, &text)
    }

    /// The `[policy]` table of a service configuration file (`None` when
    /// the file has none).
    pub fn from_service_config(path: &Path) -> Result<Option<Policy>, ConfigErrors> {
        let text = read(path)?;
        let file: raw::ServiceFile =
            toml::from_str(&text).map_err(|e| toml_error(path, &text, &e))?;
        let Some(raw) = file.policy else {
            return Ok(None);
        };
        Validator::new(path, &text, "policy.").policy(raw).map(Some)
    }

    /// Validate a policy file's text; `path` is for messages and relative
    /// paths.
    pub fn parse(path: &Path, text: &str) -> Result<Policy, ConfigErrors> {
        let raw: raw::Policy = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
        Validator::new(path, text, "").policy(raw)
    }

    /// The configured identity a session's RDP user name names.
    pub fn identity_by_rdp_user(&self, user: &str) -> Option<usize> {
        let u = user.to_ascii_lowercase();
        self.index.rdp_users.get(&u).copied().or_else(|| {
            // `DOMAIN\user` and `user@domain` also match a bare `user`.
            let bare = u.rsplit('\\').next().unwrap_or(&u);
            let bare = bare.split('@').next().unwrap_or(bare);
            self.index.rdp_users.get(bare).copied()
        })
    }

    pub fn identity_by_device(&self, name: &str) -> Option<usize> {
        let n = name.to_ascii_lowercase();
        let short = n.split('.').next().unwrap_or(&n);
        self.index
            .device_names
            .get(&n)
            .or_else(|| self.index.device_names.get(short))
            .copied()
    }

    pub fn identity_by_mac(&self, mac: &str) -> Option<usize> {
        self.index
            .laptop_macs
            .get(&mac.to_ascii_lowercase())
            .copied()
    }

    /// The identity whose issued laptop has this internal address.
    pub fn identity_by_laptop(&self, ip: IpAddr) -> Option<usize> {
        self.index.laptops.longest_match(ip).map(|(_, &i)| i)
    }

    /// The identity whose source networks hold this public address.
    pub fn identity_by_source(&self, ip: IpAddr) -> Option<usize> {
        self.index.sources.longest_match(ip).map(|(_, &i)| i)
    }

    pub fn identity_by_name(&self, name: &str) -> Option<usize> {
        self.index.by_name.get(&name.to_ascii_lowercase()).copied()
    }

    /// An identity's expectations with the defaults filled in.
    pub fn expect_of(&self, identity: Option<usize>) -> Expect {
        let d = &self.defaults;
        let Some(e) = identity
            .and_then(|i| self.identities.get(i))
            .map(|i| &i.expect)
        else {
            return d.clone();
        };
        Expect {
            countries: or_default(&e.countries, &d.countries),
            network_kinds: or_default(&e.network_kinds, &d.network_kinds),
            time_zone: e.time_zone.or(d.time_zone),
            working: e.working.or(d.working),
            tools: or_default(&e.tools, &d.tools),
        }
    }

    /// Is this session's service watched?
    pub fn watches(&self, addr: IpAddr, port: u16) -> bool {
        self.watch.is_empty() || self.watch.iter().any(|s| s.matches(addr, port))
    }
}

fn or_default<T: Clone>(own: &[T], default: &[T]) -> Vec<T> {
    if own.is_empty() {
        default.to_vec()
    } else {
        own.to_vec()
    }
}

fn read(path: &Path) -> Result<String, ConfigErrors> {
    std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            line: None,
            column: None,
            field: None,
            message: format!("cannot read: {e}"),
        }])
    })
}

fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigErrors {
    let (line, column) = e
        .span()
        .and_then(|s| crate::config::line_col(text, s.start))
        .map_or((None, None), |(l, c)| (Some(l), Some(c)));
    ConfigErrors(vec![ConfigError {
        file: path.to_path_buf(),
        line,
        column,
        field: e.span().and_then(|s| crate::config::key_at(text, s.start)),
        message: e.message().trim().to_string(),
    }])
}

/// A policy with every default: what an empty file gives. Only reached if
/// the embedded texts failed, which their tests rule out.
fn empty() -> Policy {
    let mut v = Validator::new(Path::new("<empty>"), "", "");
    v.build(raw::Policy::default())
}

/// Parse `"24h"`, `"30m"`, `"90s"`, `"14d"` into seconds.
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// `"09:00-18:00"` into minutes after midnight.
fn parse_hours(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.trim().split_once('-')?;
    let hm = |t: &str| -> Option<u16> {
        let (h, m) = t.trim().split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let h: u16 = h.parse().ok()?;
        let m: u16 = m.parse().ok()?;
        // 24:00 is allowed as an end of day.
        (h < 24 && m < 60 || h == 24 && m == 0).then_some(h * 60 + m)
    };
    let (start, end) = (hm(a)?, hm(b)?);
    (start != end).then_some((start, end % 1440))
}

fn parse_day(s: &str) -> Option<u8> {
    Some(match s.to_ascii_lowercase().get(..3)? {
        "mon" => 0,
        "tue" => 1,
        "wed" => 2,
        "thu" => 3,
        "fri" => 4,
        "sat" => 5,
        "sun" => 6,
        _ => return None,
    })
}

struct Validator<'a> {
    path: &'a Path,
    text: &'a str,
    /// `policy.` inside a service configuration, empty in a policy file.
    prefix: &'static str,
    errors: Vec<ConfigError>,
    regions: HashMap<String, Vec<String>>,
}

impl<'a> Validator<'a> {
    fn new(path: &'a Path, text: &'a str, prefix: &'static str) -> Validator<'a> {
        Validator {
            path,
            text,
            prefix,
            errors: Vec::new(),
            regions: HashMap::new(),
        }
    }

    fn error<T>(&mut self, at: &Spanned<T>, field: &str, message: String) {
        self.error_at(Some(at.span()), field, message);
    }

    fn error_at(&mut self, span: Option<std::ops::Range<usize>>, field: &str, message: String) {
        let (line, column) = span
            .and_then(|s| crate::config::line_col(self.text, s.start))
            .map_or((None, None), |(l, c)| (Some(l), Some(c)));
        self.errors.push(ConfigError {
            file: self.path.to_path_buf(),
            line,
            column,
            field: Some(format!("{}{field}", self.prefix)),
            message,
        });
    }

    fn policy(mut self, raw: raw::Policy) -> Result<Policy, ConfigErrors> {
        let p = self.build(raw);
        if self.errors.is_empty() {
            Ok(p)
        } else {
            Err(ConfigErrors(self.errors))
        }
    }

    fn resolve(&self, p: &str) -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            return p;
        }
        self.path.parent().map_or(p.clone(), |dir| dir.join(&p))
    }

    fn build(&mut self, raw: raw::Policy) -> Policy {
        self.regions(&raw.regions);
        let sensor = raw.sensor.unwrap_or_default();
        let sensor_name = sensor.name.map(|n| n.into_inner());
        let site_networks = sensor
            .networks
            .iter()
            .enumerate()
            .filter_map(|(i, n)| self.net(n, &format!("sensor.networks[{i}]")))
            .collect();
        let sensor_location = sensor.location.and_then(|l| self.location(l));
        let watch = raw
            .watch
            .map(|w| {
                w.services
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s)| self.service(s, &format!("watch.services[{i}]")))
                    .collect()
            })
            .unwrap_or_default();
        let defaults = match raw.defaults {
            Some(d) => self.expect(d, "defaults"),
            None => Expect::default(),
        };
        let (identities, index) = self.identities(raw.identities);
        for (i, id) in identities.iter().enumerate() {
            if id.expect.working.is_some()
                && id.expect.time_zone.is_none()
                && defaults.time_zone.is_none()
            {
                self.error_at(
                    None,
                    &format!("identities[{i}].working_hours"),
                    "working hours need a time_zone, the identity's or [defaults]'".into(),
                );
            }
        }
        let identity_map = raw
            .identity_map
            .and_then(|m| m.file)
            .map(|f| self.resolve(f.get_ref()));
        let allow = self.allow(raw.allow.unwrap_or_default());
        let alerts = self.alerts(raw.alerts.unwrap_or_default());
        let store = self.store(raw.store.unwrap_or_default());
        let rules = self.rules(raw.rules);
        Policy {
            source: Some(self.path.to_path_buf()),
            sensor_name,
            sensor_location,
            site_networks,
            watch,
            defaults,
            identities,
            identity_map,
            allow,
            alerts,
            store,
            rules,
            index,
        }
    }

    fn regions(
        &mut self,
        regions: &std::collections::BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
    ) {
        for (name, list) in regions {
            let mut codes = Vec::new();
            for (i, c) in list.get_ref().iter().enumerate() {
                if let Some(code) = self.country_code(c, &format!("regions.{name}[{i}]")) {
                    codes.push(code);
                }
            }
            self.regions.insert(name.to_ascii_lowercase(), codes);
        }
    }

    fn country_code(&mut self, c: &Spanned<String>, field: &str) -> Option<String> {
        let s = c.get_ref().trim();
        if s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Some(s.to_ascii_uppercase());
        }
        self.error(
            c,
            field,
            format!("expected an ISO 3166-1 alpha-2 country code (e.g. \"IT\") or a [regions] name, found {s:?}"),
        );
        None
    }

    fn location(&mut self, l: crate::config::raw::Location) -> Option<Location> {
        let (lat, lon) = (*l.lat.get_ref(), *l.lon.get_ref());
        if let Some(why) = Location::lat_problem(lat) {
            self.error(&l.lat, "sensor.location.lat", why);
            return None;
        }
        if let Some(why) = Location::lon_problem(lon) {
            self.error(&l.lon, "sensor.location.lon", why);
            return None;
        }
        Some(Location { lat, lon })
    }

    fn service(&mut self, s: &Spanned<String>, field: &str) -> Option<ServiceMatch> {
        match parse_service(s.get_ref()) {
            Some(m) => Some(m),
            None => {
                self.error(
                    s,
                    field,
                    format!(
                        "expected \"ADDRESS:PORT\", \"NETWORK:PORT\", \"[IPV6]:PORT\", \"NETWORK\" or \":PORT\", found {:?}",
                        s.get_ref()
                    ),
                );
                None
            }
        }
    }

    fn net(&mut self, s: &Spanned<String>, field: &str) -> Option<IpNet> {
        match parse_net(s.get_ref()) {
            Some(n) => Some(n),
            None => {
                self.error(
                    s,
                    field,
                    format!(
                        "expected an address or a CIDR network, found {:?}",
                        s.get_ref()
                    ),
                );
                None
            }
        }
    }

    fn expect(&mut self, e: raw::Expectations, at: &str) -> Expect {
        let mut out = Expect::default();
        for (i, c) in e.expected_countries.unwrap_or_default().iter().enumerate() {
            if let Some(codes) = self.regions.get(&c.get_ref().to_ascii_lowercase()) {
                out.countries.extend(codes.iter().cloned());
            } else if let Some(code) =
                self.country_code(c, &format!("{at}.expected_countries[{i}]"))
            {
                out.countries.push(code);
            }
        }
        for (i, k) in e
            .expected_network_kinds
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            match NetKind::parse(k.get_ref()) {
                Some(kind) => out.network_kinds.push(kind),
                None => self.error(
                    k,
                    &format!("{at}.expected_network_kinds[{i}]"),
                    format!(
                        "expected one of residential, corporate, mobile, satellite, hosting; found {:?}",
                        k.get_ref()
                    ),
                ),
            }
        }
        if let Some(tz) = &e.time_zone {
            match tz.get_ref().parse::<chrono_tz::Tz>() {
                Ok(t) => out.time_zone = Some(t),
                Err(_) => self.error(
                    tz,
                    &format!("{at}.time_zone"),
                    format!(
                        "expected an IANA time zone name (e.g. \"Europe/Rome\"), found {:?}",
                        tz.get_ref()
                    ),
                ),
            }
        }
        let mut days = 0b0001_1111u8;
        if let Some(list) = &e.working_days {
            days = 0;
            for (i, d) in list.iter().enumerate() {
                match parse_day(d.get_ref()) {
                    Some(n) => days |= 1 << n,
                    None => self.error(
                        d,
                        &format!("{at}.working_days[{i}]"),
                        format!(
                            "expected a day name (mon, tue, ..., sun), found {:?}",
                            d.get_ref()
                        ),
                    ),
                }
            }
        }
        if let Some(h) = &e.working_hours {
            match parse_hours(h.get_ref()) {
                Some((start_min, end_min)) => {
                    out.working = Some(WorkingTime {
                        start_min,
                        end_min,
                        days,
                    });
                    if out.time_zone.is_none() && at == "defaults" {
                        self.error(
                            h,
                            &format!("{at}.working_hours"),
                            "working hours need a time_zone beside them".into(),
                        );
                    }
                }
                None => self.error(
                    h,
                    &format!("{at}.working_hours"),
                    format!(
                        "expected \"HH:MM-HH:MM\" (local time), found {:?}",
                        h.get_ref()
                    ),
                ),
            }
        }
        out.tools = e
            .allowed_tools
            .unwrap_or_default()
            .iter()
            .map(|t| t.get_ref().to_ascii_lowercase())
            .collect();
        out
    }

    fn identities(&mut self, list: Vec<raw::Identity>) -> (Vec<IdentityDef>, IdentityIndex) {
        let mut defs = Vec::new();
        let mut index = IdentityIndex::default();
        let mut laptops = Vec::new();
        let mut sources = Vec::new();
        if list.len() > MAX_IDENTITIES {
            self.error_at(
                None,
                "identities",
                format!("at most {MAX_IDENTITIES} identities, found {}", list.len()),
            );
            return (defs, index);
        }
        for (i, mut id) in list.into_iter().enumerate() {
            let at = format!("identities[{i}]");
            let name = id.name.get_ref().trim().to_string();
            if name.is_empty() || name.len() > 256 {
                self.error(
                    &id.name,
                    &format!("{at}.name"),
                    "expected a name of 1 to 256 characters".into(),
                );
                continue;
            }
            if index.by_name.insert(name.to_ascii_lowercase(), i).is_some() {
                self.error(
                    &id.name,
                    &format!("{at}.name"),
                    format!("identity {name:?} is declared twice"),
                );
            }
            let kind = match id.kind.as_ref().map(|k| k.get_ref().as_str()) {
                None | Some("contractor") => IdentityKind::Contractor,
                Some("employee") => IdentityKind::Employee,
                Some(other) => {
                    let k = id.kind.as_ref().map(|k| k.span());
                    self.error_at(
                        k,
                        &format!("{at}.kind"),
                        format!("expected \"contractor\" or \"employee\", found {other:?}"),
                    );
                    IdentityKind::Contractor
                }
            };
            let slot = defs.len();
            for u in &id.rdp_users {
                index
                    .rdp_users
                    .insert(u.get_ref().to_ascii_lowercase(), slot);
            }
            for d in &id.device_names {
                index
                    .device_names
                    .insert(d.get_ref().to_ascii_lowercase(), slot);
            }
            for (j, m) in id.laptop_macs.iter().enumerate() {
                match normalise_mac(m.get_ref()) {
                    Some(mac) => {
                        index.laptop_macs.insert(mac, slot);
                    }
                    None => self.error(
                        m,
                        &format!("{at}.laptop_macs[{j}]"),
                        format!(
                            "expected a MAC address like 02:00:5e:10:00:21, found {:?}",
                            m.get_ref()
                        ),
                    ),
                }
            }
            for (j, a) in id.laptop_addresses.iter().enumerate() {
                if let Some(n) = self.net(a, &format!("{at}.laptop_addresses[{j}]")) {
                    laptops.push((n, slot));
                }
            }
            for (j, a) in id.source_networks.iter().enumerate() {
                if let Some(n) = self.net(a, &format!("{at}.source_networks[{j}]")) {
                    sources.push((n, slot));
                }
            }
            let has_laptop = !id.laptop_addresses.is_empty()
                || !id.laptop_macs.is_empty()
                || !id.device_names.is_empty();
            let expect = self.expect(id.take_expectations(), &at);
            defs.push(IdentityDef {
                name,
                kind,
                expect,
                has_laptop,
            });
        }
        index.laptops = PrefixTable::from_entries(laptops);
        index.sources = PrefixTable::from_entries(sources);
        (defs, index)
    }

    fn allow(&mut self, a: raw::Allow) -> Allow {
        let mut networks = Vec::new();
        for (i, n) in a.addresses.iter().enumerate() {
            if let Some(n) = self.net(n, &format!("allow.addresses[{i}]")) {
                networks.push(n);
            }
        }
        for (i, n) in a.networks.iter().enumerate() {
            if let Some(n) = self.net(n, &format!("allow.networks[{i}]")) {
                networks.push(n);
            }
        }
        Allow {
            networks,
            tools: a
                .tools
                .iter()
                .map(|t| t.get_ref().to_ascii_lowercase())
                .collect(),
            identities: a
                .identities
                .iter()
                .map(|t| t.get_ref().to_ascii_lowercase())
                .collect(),
        }
    }

    fn duration(&mut self, v: Option<&Spanned<String>>, field: &str, default: u64) -> u64 {
        let Some(v) = v else { return default };
        match parse_duration(v.get_ref()) {
            Some(s) if s > 0 => s,
            _ => {
                self.error(
                    v,
                    field,
                    format!(
                        "expected a duration like \"90s\", \"30m\", \"24h\" or \"14d\", found {:?}",
                        v.get_ref()
                    ),
                );
                default
            }
        }
    }

    fn int(
        &mut self,
        v: Option<&Spanned<i64>>,
        field: &str,
        range: std::ops::RangeInclusive<i64>,
        default: i64,
    ) -> i64 {
        let Some(v) = v else { return default };
        let n = *v.get_ref();
        if range.contains(&n) {
            n
        } else {
            self.error(
                v,
                field,
                format!(
                    "expected a whole number within {}..={}, found {n}",
                    range.start(),
                    range.end()
                ),
            );
            default
        }
    }

    fn float(
        &mut self,
        v: Option<&Spanned<f64>>,
        field: &str,
        range: std::ops::RangeInclusive<f64>,
        default: f64,
    ) -> f64 {
        let Some(v) = v else { return default };
        let n = *v.get_ref();
        if range.contains(&n) {
            n
        } else {
            self.error(
                v,
                field,
                format!(
                    "expected a number within {}..={}, found {n}",
                    range.start(),
                    range.end()
                ),
            );
            default
        }
    }

    fn alerts(&mut self, a: raw::Alerts) -> AlertSettings {
        AlertSettings {
            min_score: self.int(a.min_score.as_ref(), "alerts.min_score", 1..=100, 40) as u32,
            dedup_window_s: self.duration(a.dedup_window.as_ref(), "alerts.dedup_window", 3600),
        }
    }

    fn store(&mut self, s: raw::Store) -> StoreSettings {
        StoreSettings {
            path: s.path.as_ref().map(|p| self.resolve(p.get_ref())),
            max_identities: self.int(
                s.max_identities.as_ref(),
                "store.max_identities",
                1..=10_000_000,
                10_000,
            ) as usize,
            max_egresses: self.int(
                s.max_egresses.as_ref(),
                "store.max_egresses",
                1..=10_000_000,
                100_000,
            ) as usize,
            retention_s: self.duration(s.retention.as_ref(), "store.retention", 30 * 86_400),
        }
    }

    fn common(
        &mut self,
        rule: RuleId,
        enabled: Option<bool>,
        severity: Option<&Spanned<String>>,
        score: Option<&Spanned<i64>>,
    ) -> RuleCommon {
        let name = rule.as_str();
        let (def_sev, def_score) = rule.defaults();
        let severity = match severity {
            None => def_sev,
            Some(s) => match Severity::parse(s.get_ref()) {
                Some(v) => v,
                None => {
                    self.error(
                        s,
                        &format!("rules.{name}.severity"),
                        format!(
                            "expected low, medium, high or critical, found {:?}",
                            s.get_ref()
                        ),
                    );
                    def_sev
                }
            },
        };
        RuleCommon {
            enabled: enabled.unwrap_or(true),
            severity,
            score: self.int(
                score,
                &format!("rules.{name}.score"),
                0..=100,
                i64::from(def_score),
            ) as u32,
        }
    }

    fn strings(list: Option<&Vec<Spanned<String>>>, default: &[&str]) -> Vec<String> {
        match list {
            Some(l) => l.iter().map(|s| s.get_ref().to_ascii_lowercase()).collect(),
            None => default.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn asns(&mut self, list: Option<&Vec<Spanned<i64>>>, field: &str, default: &[u32]) -> Vec<u32> {
        let Some(l) = list else {
            return default.to_vec();
        };
        let mut out = Vec::new();
        for (i, a) in l.iter().enumerate() {
            out.push(self.int(
                Some(a),
                &format!("{field}[{i}]"),
                0..=i64::from(u32::MAX),
                0,
            ) as u32);
        }
        out
    }

    /// A rule's `enabled`, `severity` and `score`.
    fn common_of(&mut self, rule: RuleId, raw: &impl raw::RawRule) -> RuleCommon {
        self.common(rule, raw.enabled(), raw.severity(), raw.score())
    }

    fn rules(&mut self, r: raw::Rules) -> Rules {
        use RuleId::*;
        Rules {
            unexpected_geography: self.common_of(
                UnexpectedGeography,
                &r.unexpected_geography.unwrap_or_default(),
            ),
            anonymizer_exit: self.anonymizer_rule(r.anonymizer_exit.unwrap_or_default()),
            shared_egress: self.shared_egress_rule(r.shared_egress.unwrap_or_default()),
            impossible_travel: self.travel_rule(r.impossible_travel.unwrap_or_default()),
            latency_geography_mismatch: self
                .latency_rule(r.latency_geography_mismatch.unwrap_or_default()),
            relayed_session: self.relayed_rule(r.relayed_session.unwrap_or_default()),
            tunnel_indicators: self.tunnel_rule(r.tunnel_indicators.unwrap_or_default()),
            remote_control_tool: self.common_of(
                RemoteControlTool,
                &r.remote_control_tool.unwrap_or_default(),
            ),
            off_hours: self.off_hours_rule(r.off_hours.unwrap_or_default()),
            unknown_identity: self
                .common_of(UnknownIdentity, &r.unknown_identity.unwrap_or_default()),
        }
    }

    fn anonymizer_rule(&mut self, a: raw::Anonymizer) -> AnonymizerRule {
        const F: &str = "rules.anonymizer_exit";
        AnonymizerRule {
            common: self.common_of(RuleId::AnonymizerExit, &a),
            include_hosting: a.include_hosting.unwrap_or(true),
            min_confidence: self.int(
                a.min_confidence.as_ref(),
                &format!("{F}.min_confidence"),
                0..=100,
                30,
            ) as u8,
            list_labels: Self::strings(
                a.list_labels.as_ref(),
                &[
                    "anonymizer",
                    "vpn",
                    "vpn-exit",
                    "tor",
                    "tor-exit",
                    "proxy",
                    "hosting",
                ],
            ),
            hosting_asns: self.asns(a.hosting_asns.as_ref(), &format!("{F}.hosting_asns"), &[]),
        }
    }

    fn shared_egress_rule(&mut self, s: raw::SharedEgress) -> SharedEgressRule {
        const F: &str = "rules.shared_egress";
        SharedEgressRule {
            common: self.common_of(RuleId::SharedEgress, &s),
            min_identities: self.int(
                s.min_identities.as_ref(),
                &format!("{F}.min_identities"),
                2..=1000,
                3,
            ) as usize,
            window_s: self.duration(s.window.as_ref(), &format!("{F}.window"), 86_400),
            prefix_v4: self.int(s.prefix_v4.as_ref(), &format!("{F}.prefix_v4"), 8..=32, 32) as u8,
            prefix_v6: self.int(
                s.prefix_v6.as_ref(),
                &format!("{F}.prefix_v6"),
                16..=128,
                64,
            ) as u8,
            exempt_connection_types: Self::names(s.exempt_connection_types.as_ref(), &["Cellular"]),
            max_egresses_per_identity: self.int(
                s.max_egresses_per_identity.as_ref(),
                &format!("{F}.max_egresses_per_identity"),
                2..=1000,
                4,
            ) as usize,
            max_countries_per_identity: self.int(
                s.max_countries_per_identity.as_ref(),
                &format!("{F}.max_countries_per_identity"),
                1..=250,
                2,
            ) as usize,
        }
    }

    fn travel_rule(&mut self, t: raw::Travel) -> TravelRule {
        const F: &str = "rules.impossible_travel";
        TravelRule {
            common: self.common_of(RuleId::ImpossibleTravel, &t),
            max_speed_kmh: self.float(
                t.max_speed_kmh.as_ref(),
                &format!("{F}.max_speed_kmh"),
                1.0..=100_000.0,
                1000.0,
            ),
            min_distance_km: self.float(
                t.min_distance_km.as_ref(),
                &format!("{F}.min_distance_km"),
                0.0..=20_000.0,
                500.0,
            ),
        }
    }

    fn latency_rule(&mut self, l: raw::Latency) -> LatencyRule {
        const F: &str = "rules.latency_geography_mismatch";
        LatencyRule {
            common: self.common_of(RuleId::LatencyGeographyMismatch, &l),
            fibre_km_per_ms: self.float(
                l.fibre_km_per_ms.as_ref(),
                &format!("{F}.fibre_km_per_ms"),
                10.0..=300.0,
                100.0,
            ),
            slack_ms: self.float(
                l.slack_ms.as_ref(),
                &format!("{F}.slack_ms"),
                0.0..=1000.0,
                2.0,
            ),
            max_ratio: self.float(
                l.max_ratio.as_ref(),
                &format!("{F}.max_ratio"),
                1.0..=100.0,
                4.0,
            ),
            far_slack_ms: self.float(
                l.far_slack_ms.as_ref(),
                &format!("{F}.far_slack_ms"),
                0.0..=10_000.0,
                150.0,
            ),
            // Anycast and CDN networks (their addresses answer from many
            // places): Cloudflare, Akamai, Fastly, Google, Amazon, Microsoft.
            exempt_asns: self.asns(
                l.exempt_asns.as_ref(),
                &format!("{F}.exempt_asns"),
                &[13335, 20940, 16625, 54113, 15169, 16509, 8075],
            ),
        }
    }

    fn relayed_rule(&mut self, r: raw::Relayed) -> RelayedRule {
        const F: &str = "rules.relayed_session";
        RelayedRule {
            common: self.common_of(RuleId::RelayedSession, &r),
            min_ratio: self.float(
                r.min_ratio.as_ref(),
                &format!("{F}.min_ratio"),
                1.0..=1000.0,
                3.0,
            ),
            min_gap_ms: self.float(
                r.min_gap_ms.as_ref(),
                &format!("{F}.min_gap_ms"),
                1.0..=60_000.0,
                60.0,
            ),
            max_app_rtt_ms: self.float(
                r.max_app_rtt_ms.as_ref(),
                &format!("{F}.max_app_rtt_ms"),
                10.0..=60_000.0,
                1500.0,
            ),
        }
    }

    fn tunnel_rule(&mut self, t: raw::Tunnel) -> TunnelRule {
        const F: &str = "rules.tunnel_indicators";
        TunnelRule {
            common: self.common_of(RuleId::TunnelIndicators, &t),
            max_mss_v4: self.int(
                t.max_mss_v4.as_ref(),
                &format!("{F}.max_mss_v4"),
                0..=65535,
                1380,
            ) as u16,
            max_mss_v6: self.int(
                t.max_mss_v6.as_ref(),
                &format!("{F}.max_mss_v6"),
                0..=65535,
                1360,
            ) as u16,
            exempt_connection_types: Self::names(
                t.exempt_connection_types.as_ref(),
                &["Cellular", "Satellite"],
            ),
        }
    }

    fn off_hours_rule(&mut self, o: raw::OffHours) -> OffHoursRule {
        const F: &str = "rules.off_hours";
        OffHoursRule {
            common: self.common_of(RuleId::OffHours, &o),
            min_sessions: self.int(
                o.min_sessions.as_ref(),
                &format!("{F}.min_sessions"),
                1..=1000,
                3,
            ) as usize,
            window_s: self.duration(o.window.as_ref(), &format!("{F}.window"), 14 * 86_400),
        }
    }

    /// Names as written (GeoIP2's Connection-Type values keep their case).
    fn names(list: Option<&Vec<Spanned<String>>>, default: &[&str]) -> Vec<String> {
        match list {
            Some(l) => l.iter().map(|t| t.get_ref().clone()).collect(),
            None => default.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// `"02:00:5E:10:00:21"` or `"02-00-5e-10-00-21"` into lower-case colon
/// form.
pub fn normalise_mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.trim().split([':', '-']).collect();
    if parts.len() != 6
        || parts
            .iter()
            .any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return None;
    }
    Some(parts.join(":").to_ascii_lowercase())
}

/// An address (as a host network) or a CIDR network.
pub fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(n.trunc());
    }
    s.parse::<IpAddr>().ok().map(IpNet::from)
}

fn parse_service(s: &str) -> Option<ServiceMatch> {
    let s = s.trim();
    if let Some(port) = s.strip_prefix(':') {
        return Some(ServiceMatch {
            net: None,
            port: Some(port.parse().ok()?),
        });
    }
    if let Some(net) = parse_net(s) {
        return Some(ServiceMatch {
            net: Some(net),
            port: None,
        });
    }
    // "[v6]:port" or "v4-or-net:port".
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once("]:")?;
        (h, p)
    } else {
        s.rsplit_once(':')?
    };
    Some(ServiceMatch {
        net: Some(parse_net(host)?),
        port: Some(port.parse().ok()?),
    })
}

#[cfg(test)]
mod tests;
