//! Who is behind a session: a configured identity (by RDP user, issued
//! laptop address, MAC or DHCP name, source network, or the site's
//! address-to-user export), else, as the default policy says, the RDP user
//! name or the internal host itself.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use serde::Serialize;

use super::facts::{HostFacts, SessionFacts};
use super::policy::{IdentityKind, Policy};

/// Most hosts whose DHCP name and MAC are remembered.
pub const MAX_HOSTS: usize = 65_536;
/// Most lines read from an identity map file.
pub const MAX_MAP_ENTRIES: usize = 1_000_000;
/// Largest identity map file read.
pub const MAX_MAP_BYTES: u64 = 64 << 20;

/// The identity a session was tied to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolved {
    pub name: String,
    /// `rdp_user`, `laptop_address`, `laptop_mac`, `device_name`,
    /// `identity_map`, `source_network`, `vpn_identity`, `internal_host`.
    pub matched_by: &'static str,
    /// Declared in the policy (`kind` is then known).
    pub configured: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// The session came from (or went out of) this identity's issued laptop.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub issued_laptop: bool,
    #[serde(skip)]
    pub index: Option<usize>,
}

impl Resolved {
    fn configured(
        policy: &Policy,
        index: usize,
        matched_by: &'static str,
        laptop: bool,
    ) -> Option<Resolved> {
        let def = policy.identities.get(index)?;
        Some(Resolved {
            name: def.name.clone(),
            matched_by,
            configured: true,
            kind: Some(match def.kind {
                IdentityKind::Contractor => "contractor",
                IdentityKind::Employee => "employee",
            }),
            issued_laptop: laptop,
            index: Some(index),
        })
    }

    fn implicit(name: String, matched_by: &'static str) -> Resolved {
        Resolved {
            name,
            matched_by,
            configured: false,
            kind: None,
            issued_laptop: false,
            index: None,
        }
    }
}

/// Site hosts' DHCP names and MACs, bounded (the oldest half is dropped
/// when full).
#[derive(Debug, Default)]
pub struct HostTable {
    hosts: HashMap<IpAddr, (Option<String>, Option<String>, i64)>,
}

impl HostTable {
    pub fn learn(&mut self, h: &HostFacts) {
        let Some(ip) = h.ip else { return };
        if self.hosts.len() >= MAX_HOSTS && !self.hosts.contains_key(&ip) {
            let mut ages: Vec<i64> = self.hosts.values().map(|v| v.2).collect();
            ages.sort_unstable();
            let cut = ages.get(ages.len() / 2).copied().unwrap_or(i64::MAX);
            self.hosts.retain(|_, v| v.2 > cut);
        }
        self.hosts
            .insert(ip, (h.hostname.clone(), h.mac.clone(), h.ts.0));
    }

    pub fn get(&self, ip: IpAddr) -> Option<(Option<&str>, Option<&str>)> {
        self.hosts
            .get(&ip)
            .map(|(n, m, _)| (n.as_deref(), m.as_deref()))
    }

    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }
}

/// The site's address-to-user export (CSV `address,user` or JSON
/// `[{"address": ..., "user": ...}]`), re-read when the file changes.
#[derive(Debug, Default)]
pub struct IdentityMap {
    path: Option<PathBuf>,
    modified: Option<SystemTime>,
    checked: Option<Instant>,
    entries: HashMap<IpAddr, String>,
    /// The last load's problem, logged once per change.
    pub last_error: Option<String>,
}

impl IdentityMap {
    /// Follow `path` (or nothing), loading it now.
    pub fn follow(&mut self, path: Option<&Path>) {
        if self.path.as_deref() == path {
            return;
        }
        self.path = path.map(Path::to_path_buf);
        self.modified = None;
        self.entries.clear();
        self.refresh(true);
    }

    /// Re-read the file if it changed (checked at most once a second).
    pub fn refresh(&mut self, force: bool) {
        let Some(path) = self.path.clone() else {
            return;
        };
        if !force && self.checked.is_some_and(|t| t.elapsed().as_secs() < 1) {
            return;
        }
        self.checked = Some(Instant::now());
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        if !force && modified == self.modified {
            return;
        }
        self.modified = modified;
        match load_map(&path) {
            Ok(entries) => {
                self.entries = entries;
                self.last_error = None;
            }
            Err(e) => {
                // The old entries stay: a half-written export must not
                // forget every user.
                eprintln!("gatewatch: identity map {e}; keeping the previous entries");
                self.last_error = Some(e);
            }
        }
    }

    pub fn user(&self, ip: IpAddr) -> Option<&str> {
        self.entries.get(&ip).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Read an identity map; errors name the file and line.
pub fn load_map(path: &Path) -> Result<HashMap<IpAddr, String>, String> {
    let shown = path.display();
    let size = std::fs::metadata(path)
        .map_err(|e| format!("{shown}: cannot read: {e}"))?
        .len();
    if size > MAX_MAP_BYTES {
        return Err(format!(
            "{shown}: {size} bytes, more than the {MAX_MAP_BYTES} read"
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    parse_map(&text).map_err(|e| format!("{shown}{e}"))
}

/// Parse an identity map's text: JSON when it starts with `[`, else CSV.
/// Errors start with `:LINE: ` (CSV) or `: ` (JSON), to follow a file name.
pub fn parse_map(text: &str) -> Result<HashMap<IpAddr, String>, String> {
    if text.trim_start().starts_with('[') {
        parse_json_map(text).map_err(|e| format!(": {e}"))
    } else {
        parse_csv_map(text).map_err(|e| format!(":{e}"))
    }
}

fn parse_json_map(text: &str) -> Result<HashMap<IpAddr, String>, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Entry {
        address: String,
        user: String,
    }
    let list: Vec<Entry> = serde_json::from_str(text).map_err(|e| format!("{e}"))?;
    if list.len() > MAX_MAP_ENTRIES {
        return Err(format!("more than {MAX_MAP_ENTRIES} entries"));
    }
    let mut out = HashMap::with_capacity(list.len());
    for (i, e) in list.into_iter().enumerate() {
        let ip: IpAddr = e.address.trim().parse().map_err(|_| {
            format!(
                "[{i}].address: expected an IP address, found {:?}",
                e.address
            )
        })?;
        let user = e.user.trim();
        if user.is_empty() || user.len() > 256 {
            return Err(format!(
                "[{i}].user: expected a name of 1 to 256 characters"
            ));
        }
        out.insert(ip, user.to_string());
    }
    Ok(out)
}

fn parse_csv_map(text: &str) -> Result<HashMap<IpAddr, String>, String> {
    let mut out = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if out.len() >= MAX_MAP_ENTRIES {
            return Err(format!("{}: more than {MAX_MAP_ENTRIES} entries", n + 1));
        }
        let (addr, user) = line
            .split_once(',')
            .ok_or_else(|| format!("{}: expected \"address,user\", found {line:?}", n + 1))?;
        let addr = addr.trim();
        let Ok(ip) = addr.parse::<IpAddr>() else {
            // A header line ("address,user") is allowed first.
            if n == 0 && addr.eq_ignore_ascii_case("address") {
                continue;
            }
            return Err(format!(
                "{}: address: expected an IP address, found {addr:?}",
                n + 1
            ));
        };
        let user = user.trim().trim_matches('"');
        if user.is_empty() || user.len() > 256 {
            return Err(format!(
                "{}: user: expected a name of 1 to 256 characters",
                n + 1
            ));
        }
        out.insert(ip, user.to_string());
    }
    Ok(out)
}

/// Tie a session to an identity (see the module documentation for the
/// order).
pub fn resolve(
    s: &SessionFacts,
    policy: &Policy,
    hosts: &HostTable,
    map: &IdentityMap,
) -> Option<Resolved> {
    // 1. The user the protocol names (RDP cookie; IKE/PPTP identity).
    if let Some(user) = s.user_hint.as_deref().filter(|u| !u.is_empty()) {
        let is_rdp = s.app_proto.is_some_and(|p| p.starts_with("rdp"));
        if is_rdp {
            if let Some(i) = policy.identity_by_rdp_user(user) {
                return Resolved::configured(policy, i, "rdp_user", false);
            }
        } else if let Some(i) = policy.identity_by_name(user) {
            return Resolved::configured(policy, i, "vpn_identity", false);
        }
    }
    // 2. The site-side host: an issued laptop, by address, MAC or name.
    if let Some(ip) = s.internal_ip.filter(|_| !s.inbound) {
        if let Some(i) = policy.identity_by_laptop(ip) {
            return Resolved::configured(policy, i, "laptop_address", true);
        }
        if let Some((name, mac)) = hosts.get(ip) {
            if let Some(i) = mac.and_then(|m| policy.identity_by_mac(m)) {
                return Resolved::configured(policy, i, "laptop_mac", true);
            }
            if let Some(i) = name.and_then(|n| policy.identity_by_device(n)) {
                return Resolved::configured(policy, i, "device_name", true);
            }
        }
    }
    // 3. The site's address-to-user export, for either end.
    for ip in [s.internal_ip, s.remote_ip].into_iter().flatten() {
        if let Some(user) = map.user(ip) {
            return Some(match policy.identity_by_name(user) {
                Some(i) => Resolved::configured(policy, i, "identity_map", false)?,
                None => Resolved::implicit(user.to_string(), "identity_map"),
            });
        }
    }
    // 4. Where she connects from.
    if let Some(i) = s
        .remote_ip
        .filter(|_| s.inbound)
        .and_then(|ip| policy.identity_by_source(ip))
    {
        return Resolved::configured(policy, i, "source_network", false);
    }
    // 5. The default policy's identities: the user name, the internal host.
    if let Some(user) = s.user_hint.as_deref().filter(|u| !u.is_empty()) {
        let is_rdp = s.app_proto.is_some_and(|p| p.starts_with("rdp"));
        let (prefix, by) = if is_rdp {
            ("rdp", "rdp_user")
        } else {
            ("vpn", "vpn_identity")
        };
        return Some(Resolved::implicit(
            format!("{prefix}:{}", user.to_ascii_lowercase()),
            by,
        ));
    }
    if s.outbound {
        return s
            .internal_ip
            .map(|ip| Resolved::implicit(format!("host:{ip}"), "internal_host"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy::parse(
            Path::new("p.toml"),
            r#"
[[identities]]
name = "alice"
rdp_users = ["alice"]
laptop_addresses = ["10.10.0.21"]
source_networks = ["192.0.2.0/28"]
[[identities]]
name = "bob"
kind = "employee"
device_names = ["bob-laptop"]
laptop_macs = ["02:00:5E:10:00:22"]
"#,
        )
        .unwrap()
    }

    fn session() -> SessionFacts {
        SessionFacts::default()
    }

    #[test]
    fn rdp_user_with_a_domain_finds_the_configured_identity() {
        let p = policy();
        let mut s = session();
        s.app_proto = Some("rdp");
        s.user_hint = Some("CORP\\Alice".into());
        s.inbound = true;
        let r = resolve(&s, &p, &HostTable::default(), &IdentityMap::default()).unwrap();
        assert_eq!(
            (r.name.as_str(), r.matched_by, r.configured),
            ("alice", "rdp_user", true)
        );
        assert_eq!(r.kind, Some("contractor"));
    }

    #[test]
    fn unknown_rdp_user_becomes_an_implicit_identity() {
        let p = policy();
        let mut s = session();
        s.app_proto = Some("rdp");
        s.user_hint = Some("Mallory".into());
        s.inbound = true;
        let r = resolve(&s, &p, &HostTable::default(), &IdentityMap::default()).unwrap();
        assert_eq!((r.name.as_str(), r.configured), ("rdp:mallory", false));
    }

    #[test]
    fn laptops_are_found_by_address_mac_and_dhcp_name() {
        let p = policy();
        let mut s = session();
        s.outbound = true;
        s.internal_ip = Some("10.10.0.21".parse().unwrap());
        let r = resolve(&s, &p, &HostTable::default(), &IdentityMap::default()).unwrap();
        assert_eq!(
            (r.name.as_str(), r.matched_by, r.issued_laptop),
            ("alice", "laptop_address", true)
        );

        let mut hosts = HostTable::default();
        hosts.learn(&HostFacts {
            ip: Some("10.10.0.40".parse().unwrap()),
            hostname: Some("BOB-LAPTOP.corp.example".into()),
            mac: None,
            ts: crate::capture::Timestamp(1),
        });
        s.internal_ip = Some("10.10.0.40".parse().unwrap());
        let r = resolve(&s, &p, &hosts, &IdentityMap::default()).unwrap();
        assert_eq!((r.name.as_str(), r.matched_by), ("bob", "device_name"));
        hosts.learn(&HostFacts {
            ip: Some("10.10.0.41".parse().unwrap()),
            hostname: None,
            mac: Some("02:00:5e:10:00:22".into()),
            ts: crate::capture::Timestamp(2),
        });
        s.internal_ip = Some("10.10.0.41".parse().unwrap());
        let r = resolve(&s, &p, &hosts, &IdentityMap::default()).unwrap();
        assert_eq!((r.name.as_str(), r.matched_by), ("bob", "laptop_mac"));

        // Any other internal host is its own identity.
        s.internal_ip = Some("10.10.0.99".parse().unwrap());
        let r = resolve(&s, &p, &hosts, &IdentityMap::default()).unwrap();
        assert_eq!((r.name.as_str(), r.configured), ("host:10.10.0.99", false));
    }

    #[test]
    fn inbound_sessions_match_source_networks_and_otherwise_have_no_identity() {
        let p = policy();
        let mut s = session();
        s.inbound = true;
        s.remote_ip = Some("192.0.2.5".parse().unwrap());
        let r = resolve(&s, &p, &HostTable::default(), &IdentityMap::default()).unwrap();
        assert_eq!((r.name.as_str(), r.matched_by), ("alice", "source_network"));
        s.remote_ip = Some("192.0.2.50".parse().unwrap());
        assert_eq!(
            resolve(&s, &p, &HostTable::default(), &IdentityMap::default()),
            None
        );
    }

    #[test]
    fn identity_map_files_in_csv_and_json_with_errors_naming_the_line() {
        let dir = std::env::temp_dir().join(format!("gw-idmap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("users.csv");
        std::fs::write(
            &csv,
            "address,user\n10.8.0.2, alice\n# comment\n10.8.0.3,carol\n",
        )
        .unwrap();
        let m = load_map(&csv).unwrap();
        assert_eq!(
            m.get(&"10.8.0.2".parse().unwrap()).map(String::as_str),
            Some("alice")
        );
        assert_eq!(m.len(), 2);
        std::fs::write(&csv, "10.8.0.2,alice\nnot-an-ip,bob\n").unwrap();
        let e = load_map(&csv).unwrap_err();
        assert!(
            e.ends_with("users.csv:2: address: expected an IP address, found \"not-an-ip\""),
            "{e}"
        );
        let json = dir.join("users.json");
        std::fs::write(&json, r#"[{"address":"10.8.0.9","user":"dave"}]"#).unwrap();
        let mut map = IdentityMap::default();
        map.follow(Some(&json));
        assert_eq!(map.user("10.8.0.9".parse().unwrap()), Some("dave"));
        // A broken rewrite keeps the old entries.
        std::fs::write(&json, r#"[{"address":"10.8.0.9"}]"#).unwrap();
        map.refresh(true);
        assert_eq!(map.user("10.8.0.9".parse().unwrap()), Some("dave"));
        assert!(map
            .last_error
            .as_deref()
            .unwrap()
            .contains("missing field `user`"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
