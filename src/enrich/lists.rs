//! The site's own labelled network lists: what the site knows that MaxMind
//! does not (its egress addresses and VPN concentrators, a contractor's
//! office, a purchased list of commercial VPN exits, the laptop-farm
//! addresses of an advisory).
//!
//! Formats, told by the file name's extension:
//! - `.txt` (or anything else): one network per line, `CIDR [LABEL]`; a bare
//!   address is a /32 or /128; `#` starts a comment; without a label the
//!   line takes the list's name.
//! - `.csv`: a header row naming the columns, `network` first and `label`
//!   optional; every other column is an attribute kept with the match, e.g.
//!   `network,label,provider,source`.
//! - `.mmdb`: a MaxMind-format file of the site's own (verified in full like
//!   any database), whose records are maps: a `label` string (else the
//!   list's name) and other scalar fields kept as attributes.
//!
//! Within one list the longest matching prefix wins; every list contributes
//! its own match, so an address can carry several labels.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ipnet::IpNet;

use crate::prefix::PrefixTable;

/// Most networks one list may hold (bounds memory on a hostile file).
pub const MAX_NETWORKS: usize = 4_000_000;
/// Most attributes a CSV list may carry per network.
pub const MAX_ATTRIBUTES: usize = 16;

/// One list's answer for an address.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LabelMatch {
    /// The list's name (its file stem unless configured otherwise).
    pub list: Arc<str>,
    pub label: Arc<str>,
    /// The list entry that matched, as CIDR.
    pub network: String,
    /// CSV columns besides `network` and `label`, in file order.
    #[serde(
        skip_serializing_if = "<[_]>::is_empty",
        serialize_with = "attributes_as_object"
    )]
    pub attributes: Arc<[(String, String)]>,
}

/// Attributes are written as a JSON object, in file order.
fn attributes_as_object<S: serde::Serializer>(
    attrs: &Arc<[(String, String)]>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(attrs.len()))?;
    for (k, v) in attrs.iter() {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

/// Why a list could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListError {
    pub path: PathBuf,
    /// 1-based line number, 0 for the file as a whole.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
        }
    }
}

impl std::error::Error for ListError {}

/// What one list entry says: its label and CSV attributes.
type EntryValue = (Arc<str>, Arc<[(String, String)]>);

/// One labelled list, ready for longest-prefix lookups.
#[derive(Debug, Clone)]
pub struct NetworkList {
    name: Arc<str>,
    path: PathBuf,
    table: PrefixTable<EntryValue>,
    networks: usize,
    /// For `.mmdb` lists: the database answers instead of the buckets.
    mmdb: Option<Arc<crate::enrich::geoip::GeoDatabase>>,
}

impl NetworkList {
    /// Load a list from a file; `name` defaults to the file stem.
    pub fn load(path: &Path, name: Option<&str>) -> Result<NetworkList, ListError> {
        let err = |line: usize, message: String| ListError {
            path: path.to_path_buf(),
            line,
            message,
        };
        let name: Arc<str> = name
            .map(str::to_string)
            .or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "list".into())
            .into();
        let ext = |x: &str| path.extension().is_some_and(|e| e.eq_ignore_ascii_case(x));
        if ext("mmdb") {
            // Verified in full like any database; the error names the file.
            let db =
                crate::enrich::geoip::GeoDatabase::open(path).map_err(|e| err(0, e.to_string()))?;
            return Ok(NetworkList {
                networks: db.node_count() as usize,
                name,
                path: path.to_path_buf(),
                table: PrefixTable::default(),
                mmdb: Some(Arc::new(db)),
            });
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| err(0, format!("cannot read: {e}")))?;
        let entries = if ext("csv") {
            parse_csv(&text, &name)
        } else {
            parse_text(&text, &name)
        }
        .map_err(|(line, message)| err(line, message))?;
        Ok(NetworkList::from_entries(name, path, entries))
    }

    /// Parse a list held in memory (`csv` picks the format), as `load` does
    /// with a file's text; the error is `(line, message)`.
    pub fn parse(name: &str, text: &str, csv: bool) -> Result<NetworkList, (usize, String)> {
        let name: Arc<str> = name.into();
        let entries = if csv {
            parse_csv(text, &name)
        } else {
            parse_text(text, &name)
        }?;
        Ok(NetworkList::from_entries(
            name,
            Path::new("<memory>"),
            entries,
        ))
    }

    /// Build a list from networks held in memory (tests, config).
    pub fn from_networks(name: &str, networks: &[(IpNet, &str)]) -> NetworkList {
        let name: Arc<str> = name.into();
        let empty: Arc<[(String, String)]> = Arc::from(Vec::new());
        let entries = networks
            .iter()
            .map(|(net, label)| (*net, Arc::<str>::from(*label), empty.clone()))
            .collect();
        NetworkList::from_entries(name, Path::new("<memory>"), entries)
    }

    fn from_entries(name: Arc<str>, path: &Path, entries: Vec<ParsedEntry>) -> NetworkList {
        let networks = entries.len();
        // A later line for the same network replaces an earlier one.
        let table = PrefixTable::from_entries(
            entries
                .into_iter()
                .map(|(net, label, attributes)| (net, (label, attributes))),
        );
        NetworkList {
            name,
            path: path.to_path_buf(),
            table,
            networks,
            mmdb: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Networks read from the file (before duplicates were merged; for an
    /// `.mmdb` list, its search-tree nodes).
    pub fn len(&self) -> usize {
        self.networks
    }

    pub fn is_empty(&self) -> bool {
        self.networks == 0
    }

    /// The longest-prefix match for `addr`, if any.
    pub fn lookup(&self, addr: IpAddr) -> Option<LabelMatch> {
        if let Some(db) = &self.mmdb {
            return self.lookup_mmdb(db, addr);
        }
        let (network, (label, attributes)) = self.table.longest_match(addr)?;
        Some(LabelMatch {
            list: self.name.clone(),
            label: label.clone(),
            network: network.to_string(),
            attributes: attributes.clone(),
        })
    }
}

impl NetworkList {
    fn lookup_mmdb(
        &self,
        db: &crate::enrich::geoip::GeoDatabase,
        addr: IpAddr,
    ) -> Option<LabelMatch> {
        let (record, network) = db.lookup_record(addr)?;
        let map = record.as_object()?;
        let label: Arc<str> = match map.get("label").and_then(|v| v.as_str()) {
            Some(l) if !l.is_empty() => l.into(),
            _ => self.name.clone(),
        };
        // Scalar fields other than the label, in the record's key order,
        // capped like CSV attributes.
        let attributes: Vec<(String, String)> = map
            .iter()
            .filter(|(k, _)| k.as_str() != "label")
            .filter_map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    _ => return None,
                };
                Some((k.clone(), text))
            })
            .take(MAX_ATTRIBUTES)
            .collect();
        Some(LabelMatch {
            list: self.name.clone(),
            label,
            network,
            attributes: attributes.into(),
        })
    }
}

type ParsedEntry = (IpNet, Arc<str>, Arc<[(String, String)]>);

/// A network field: CIDR or a bare address. Host bits below the prefix are
/// cleared (`10.1.2.3/8` means 10.0.0.0/8), as routers read such entries.
fn parse_net(field: &str) -> Result<IpNet, String> {
    let field = field.trim();
    if let Ok(net) = field.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    if let Ok(addr) = field.parse::<IpAddr>() {
        return Ok(IpNet::from(addr));
    }
    Err(format!("{field:?} is not a network (CIDR) or an address"))
}

fn parse_text(text: &str, name: &Arc<str>) -> Result<Vec<ParsedEntry>, (usize, String)> {
    let empty: Arc<[(String, String)]> = Arc::from(Vec::new());
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut fields = line.splitn(2, char::is_whitespace);
        let net = parse_net(fields.next().unwrap_or("")).map_err(|e| (i + 1, e))?;
        let label = fields.next().map(str::trim).filter(|l| !l.is_empty());
        let label: Arc<str> = label.map_or_else(|| name.clone(), Arc::from);
        push_bounded(&mut out, (net, label, empty.clone()), i + 1)?;
    }
    Ok(out)
}

fn parse_csv(text: &str, name: &Arc<str>) -> Result<Vec<ParsedEntry>, (usize, String)> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((h, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let columns: Vec<String> = split_csv(header)
        .into_iter()
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if columns.first().map(String::as_str) != Some("network") {
        return Err((
            h + 1,
            format!(
                "the header's first column must be \"network\", found {:?}",
                columns.first()
            ),
        ));
    }
    if columns.len() > 2 + MAX_ATTRIBUTES {
        return Err((
            h + 1,
            format!("more than {MAX_ATTRIBUTES} attribute columns"),
        ));
    }
    let label_col = columns.iter().position(|c| c == "label");
    let mut out = Vec::new();
    for (i, line) in lines {
        let fields = split_csv(line);
        if fields.len() != columns.len() {
            return Err((
                i + 1,
                format!("{} fields, the header has {}", fields.len(), columns.len()),
            ));
        }
        let net = parse_net(&fields[0]).map_err(|e| (i + 1, format!("network: {e}")))?;
        let label: Arc<str> = match label_col.map(|c| fields[c].trim()) {
            Some(l) if !l.is_empty() => l.into(),
            _ => name.clone(),
        };
        let attributes: Vec<(String, String)> = columns
            .iter()
            .zip(&fields)
            .enumerate()
            .filter(|(c, _)| *c != 0 && Some(*c) != label_col)
            .map(|(_, (k, v))| (k.clone(), v.trim().to_string()))
            .collect();
        push_bounded(&mut out, (net, label, attributes.into()), i + 1)?;
    }
    Ok(out)
}

fn push_bounded(
    out: &mut Vec<ParsedEntry>,
    e: ParsedEntry,
    line: usize,
) -> Result<(), (usize, String)> {
    if out.len() >= MAX_NETWORKS {
        return Err((line, format!("more than {MAX_NETWORKS} networks")));
    }
    out.push(e);
    Ok(())
}

/// Split one CSV line (RFC 4180 quoting: `"a,b"` and `""` inside quotes).
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

/// All the site's lists, asked together.
#[derive(Debug, Clone, Default)]
pub struct SiteLists {
    lists: Vec<NetworkList>,
}

impl SiteLists {
    pub fn new(lists: Vec<NetworkList>) -> SiteLists {
        SiteLists { lists }
    }

    /// Load every file; the first that fails stops with its error.
    pub fn load_all(paths: &[PathBuf]) -> Result<SiteLists, ListError> {
        let lists = paths
            .iter()
            .map(|p| NetworkList::load(p, None))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SiteLists { lists })
    }

    pub fn lists(&self) -> &[NetworkList] {
        &self.lists
    }

    /// Each list's longest-prefix match, in list order.
    pub fn lookup(&self, addr: IpAddr) -> Vec<LabelMatch> {
        self.lists.iter().filter_map(|l| l.lookup(addr)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gatewatch-lists-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn text_list_longest_prefix_wins() {
        let p = write(
            "vpn-exits.txt",
            "# purchased list\n\
             198.51.100.0/24 astrill\n\
             198.51.100.128/25 astrill-premium   # more specific\n\
             203.0.113.7\n\
             2001:db8:5::/48 mullvad\n",
        );
        let l = NetworkList::load(&p, None).unwrap();
        assert_eq!((l.name(), l.len()), ("vpn-exits", 4));
        let m = l.lookup(ip("198.51.100.200")).unwrap();
        assert_eq!(
            (&*m.label, m.network.as_str()),
            ("astrill-premium", "198.51.100.128/25")
        );
        let m = l.lookup(ip("198.51.100.5")).unwrap();
        assert_eq!(
            (&*m.label, m.network.as_str()),
            ("astrill", "198.51.100.0/24")
        );
        // A bare address is a /32 labelled with the list's name.
        let m = l.lookup(ip("203.0.113.7")).unwrap();
        assert_eq!(
            (&*m.label, m.network.as_str()),
            ("vpn-exits", "203.0.113.7/32")
        );
        assert!(l.lookup(ip("203.0.113.8")).is_none());
        // IPv6, and IPv4-mapped IPv6 looked up as IPv4.
        assert_eq!(&*l.lookup(ip("2001:db8:5:1::9")).unwrap().label, "mullvad");
        assert_eq!(
            &*l.lookup(ip("::ffff:198.51.100.5")).unwrap().label,
            "astrill"
        );
        assert!(l.lookup(ip("2001:db8:6::1")).is_none());
    }

    #[test]
    fn csv_list_keeps_attributes() {
        let p = write(
            "farms.csv",
            "network,label,source,confidence\n\
             192.0.2.0/28,laptop-farm,\"advisory AA-1, 2025\",high\n\
             192.0.2.64/26,,advisory AA-2,medium\n",
        );
        let l = NetworkList::load(&p, None).unwrap();
        let m = l.lookup(ip("192.0.2.3")).unwrap();
        assert_eq!(&*m.label, "laptop-farm");
        assert_eq!(
            &*m.attributes,
            &[
                ("source".to_string(), "advisory AA-1, 2025".to_string()),
                ("confidence".to_string(), "high".to_string())
            ]
        );
        // An empty label takes the list's name.
        assert_eq!(&*l.lookup(ip("192.0.2.100")).unwrap().label, "farms");
        assert!(l.lookup(ip("192.0.2.20")).is_none());
        let json = serde_json::to_string(&l.lookup(ip("192.0.2.3")).unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"list":"farms","label":"laptop-farm","network":"192.0.2.0/28","attributes":{"source":"advisory AA-1, 2025","confidence":"high"}}"#
        );
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let p = write("bad.txt", "10.0.0.0/8 ok\n10.0.0.0/33 bad\n");
        let e = NetworkList::load(&p, None).unwrap_err();
        assert_eq!(e.line, 2);
        let msg = e.to_string();
        assert!(
            msg.contains("bad.txt:2:") && msg.contains("10.0.0.0/33"),
            "{msg}"
        );

        let p = write("bad.csv", "network,label\n10.0.0.0/8,a,extra\n");
        let msg = NetworkList::load(&p, None).unwrap_err().to_string();
        assert!(
            msg.contains("bad.csv:2:") && msg.contains("3 fields"),
            "{msg}"
        );

        let p = write("nohead.csv", "label,network\na,10.0.0.0/8\n");
        let msg = NetworkList::load(&p, None).unwrap_err().to_string();
        assert!(
            msg.contains("nohead.csv:1:") && msg.contains("\"network\""),
            "{msg}"
        );

        let msg = NetworkList::load(Path::new("/nonexistent/x.txt"), None)
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("/nonexistent/x.txt: cannot read"), "{msg}");
    }

    #[test]
    fn every_list_contributes_its_match() {
        let a =
            NetworkList::from_networks("egress", &[("203.0.113.0/24".parse().unwrap(), "corp")]);
        let b = NetworkList::from_networks("farms", &[("203.0.113.9/32".parse().unwrap(), "farm")]);
        let lists = SiteLists::new(vec![a, b]);
        let m = lists.lookup(ip("203.0.113.9"));
        let labels: Vec<&str> = m.iter().map(|m| &*m.label).collect();
        assert_eq!(labels, ["corp", "farm"]);
        assert_eq!(lists.lookup(ip("203.0.113.10")).len(), 1);
        assert!(lists.lookup(ip("8.8.8.8")).is_empty());
    }

    #[test]
    fn host_bits_are_cleared_and_duplicates_keep_the_last() {
        let p = write(
            "dups.txt",
            "10.1.2.3/8 first\n10.0.0.0/8 second\n0.0.0.0/0 default\n",
        );
        let l = NetworkList::load(&p, None).unwrap();
        let m = l.lookup(ip("10.200.0.1")).unwrap();
        assert_eq!((&*m.label, m.network.as_str()), ("second", "10.0.0.0/8"));
        assert_eq!(&*l.lookup(ip("8.8.8.8")).unwrap().label, "default");
        assert!(l.lookup(ip("::1")).is_none());
    }
}

#[cfg(test)]
mod mmdb_tests {
    use super::*;
    use mmdb_writer::{IpVersion, Value, Writer};
    use std::collections::BTreeMap;

    /// A site list in MaxMind format, written with mmdb-writer (the writer
    /// the project's demo databases use) and read back through the list.
    #[test]
    fn mmdb_list_labels_and_attributes() {
        let mut w = Writer::builder("Acme-Site-Labels")
            .ip_version(IpVersion::V6)
            .build();
        let mut rec = BTreeMap::new();
        rec.insert("label".to_string(), Value::String("corp-egress".into()));
        rec.insert("site".to_string(), Value::String("Milan".into()));
        rec.insert("priority".to_string(), Value::U32(3));
        w.insert_value("203.0.113.64/26".parse::<IpNet>().unwrap(), Value::Map(rec))
            .unwrap();
        let mut bare = BTreeMap::new();
        bare.insert("note".to_string(), Value::String("no label here".into()));
        w.insert_value(
            "2001:db8:600::/40".parse::<IpNet>().unwrap(),
            Value::Map(bare),
        )
        .unwrap();
        let dir = std::env::temp_dir().join(format!("gatewatch-mmdb-list-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("site-labels.mmdb");
        std::fs::write(&path, w.to_bytes().unwrap()).unwrap();

        let l = NetworkList::load(&path, None).unwrap();
        let m = l.lookup("203.0.113.70".parse().unwrap()).unwrap();
        assert_eq!(&*m.label, "corp-egress");
        assert_eq!(m.network, "203.0.113.64/26");
        assert_eq!(
            &*m.attributes,
            &[
                ("priority".to_string(), "3".to_string()),
                ("site".to_string(), "Milan".to_string())
            ]
        );
        // No `label` field: the list's name.
        let m = l.lookup("2001:db8:6ff::1".parse().unwrap()).unwrap();
        assert_eq!(
            (&*m.label, m.network.as_str()),
            ("site-labels", "2001:db8:600::/40")
        );
        assert!(l.lookup("203.0.113.1".parse().unwrap()).is_none());

        // A corrupt file is refused with its name, as any database is.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let e = NetworkList::load(&path, None).unwrap_err().to_string();
        assert!(e.contains("site-labels.mmdb"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
