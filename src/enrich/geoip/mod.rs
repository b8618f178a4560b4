//! MaxMind DB files: opening (memory-mapped or embedded), telling their kind
//! from the metadata's `database_type`, verifying them in full, and looking
//! addresses up into [`GeoInfo`](crate::enrich::GeoInfo).
//!
//! Every file goes through our own [`verify`] before the `maxminddb` reader
//! is used for lookups, so a corrupt file is refused at start-up with an
//! error naming it, rather than failing (or answering wrongly) per lookup.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use memmap2::Mmap;

use crate::enrich::{GeoInfo, GeoLookup};

mod records;
pub mod verify;

pub use verify::{Layout, Section, VerifyError};

/// What a database knows, told from its `database_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum DatabaseKind {
    City,
    Country,
    Asn,
    Isp,
    ConnectionType,
    AnonymousIp,
    AnonymousPlus,
    ResidentialProxy,
    /// City + ASN + ISP + connection type in one record.
    Enterprise,
    /// A kind we do not map; only the matched network is read.
    Other,
}

impl DatabaseKind {
    /// Tells the kind from metadata `database_type`, e.g. "GeoLite2-City",
    /// "GeoIP2-Precision-Enterprise-Shield", "GeoIP-Anonymous-Plus".
    pub fn from_database_type(t: &str) -> Self {
        // Most specific names first: "Enterprise" records hold a city too.
        const BY_NAME: [(&str, DatabaseKind); 9] = [
            ("Enterprise", DatabaseKind::Enterprise),
            ("Anonymous-Plus", DatabaseKind::AnonymousPlus),
            ("Anonymous-IP", DatabaseKind::AnonymousIp),
            ("Residential-Proxy", DatabaseKind::ResidentialProxy),
            ("Connection-Type", DatabaseKind::ConnectionType),
            ("City", DatabaseKind::City),
            ("Country", DatabaseKind::Country),
            ("ISP", DatabaseKind::Isp),
            ("ASN", DatabaseKind::Asn),
        ];
        BY_NAME
            .iter()
            .find(|(name, _)| t.contains(name))
            .map_or(DatabaseKind::Other, |&(_, k)| k)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DatabaseKind::City => "City",
            DatabaseKind::Country => "Country",
            DatabaseKind::Asn => "ASN",
            DatabaseKind::Isp => "ISP",
            DatabaseKind::ConnectionType => "Connection-Type",
            DatabaseKind::AnonymousIp => "Anonymous-IP",
            DatabaseKind::AnonymousPlus => "Anonymous-Plus",
            DatabaseKind::ResidentialProxy => "Residential-Proxy",
            DatabaseKind::Enterprise => "Enterprise",
            DatabaseKind::Other => "other",
        }
    }

    /// The kinds this one answers for (Enterprise covers several).
    fn covers(self) -> &'static [DatabaseKind] {
        use DatabaseKind::*;
        match self {
            Enterprise => &[City, Country, Asn, Isp, ConnectionType],
            City => &[City, Country],
            Isp => &[Isp, Asn],
            AnonymousPlus => &[AnonymousPlus, AnonymousIp],
            Country => &[Country],
            Asn => &[Asn],
            ConnectionType => &[ConnectionType],
            AnonymousIp => &[AnonymousIp],
            ResidentialProxy => &[ResidentialProxy],
            Other => &[],
        }
    }
}

impl fmt::Display for DatabaseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a database could not be used; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {problem}")]
    Invalid { file: String, problem: VerifyError },
    /// The `maxminddb` reader refused a file our verifier accepted.
    #[error("{file}: {message}")]
    Reader { file: String, message: String },
}

/// The bytes of a database: mapped from a file or embedded in the binary.
enum Source {
    Mapped(Mmap),
    Static(&'static [u8]),
    Owned(Vec<u8>),
}

impl AsRef<[u8]> for Source {
    fn as_ref(&self) -> &[u8] {
        match self {
            Source::Mapped(m) => m,
            Source::Static(b) => b,
            Source::Owned(v) => v,
        }
    }
}

/// One verified MaxMind DB.
pub struct GeoDatabase {
    name: String,
    kind: DatabaseKind,
    layout: Layout,
    reader: maxminddb::Reader<Source>,
}

impl fmt::Debug for GeoDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeoDatabase")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl GeoDatabase {
    /// Maps, verifies and opens the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<GeoDatabase, GeoError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let io = |source| GeoError::Io {
            file: name.clone(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: the map is read-only; like every mmap reader we rely on
        // database updates replacing the file (rename), not rewriting it in
        // place, which is how MaxMind's geoipupdate works.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        Self::from_source(name, Source::Mapped(map))
    }

    /// Verifies and opens a database embedded with `include_bytes!`.
    pub fn from_bytes(name: &str, bytes: &'static [u8]) -> Result<GeoDatabase, GeoError> {
        Self::from_source(name.to_string(), Source::Static(bytes))
    }

    /// Verifies and opens a database already read into memory (e.g.
    /// decompressed).
    pub fn from_vec(name: &str, bytes: Vec<u8>) -> Result<GeoDatabase, GeoError> {
        Self::from_source(name.to_string(), Source::Owned(bytes))
    }

    fn from_source(name: String, source: Source) -> Result<GeoDatabase, GeoError> {
        let layout = match verify::verify(source.as_ref()) {
            Ok(l) => l,
            Err(problem) => {
                return Err(GeoError::Invalid {
                    file: name,
                    problem,
                })
            }
        };
        let reader = match maxminddb::Reader::from_source(source) {
            Ok(r) => r,
            Err(e) => {
                return Err(GeoError::Reader {
                    file: name,
                    message: e.to_string(),
                })
            }
        };
        Ok(GeoDatabase {
            kind: DatabaseKind::from_database_type(&layout.database_type),
            name,
            layout,
            reader,
        })
    }

    pub fn kind(&self) -> DatabaseKind {
        self.kind
    }
    pub fn database_type(&self) -> &str {
        &self.layout.database_type
    }
    /// Build time, seconds since the Unix epoch.
    pub fn build_epoch(&self) -> u64 {
        self.layout.build_epoch
    }
    pub fn path_or_name(&self) -> &str {
        &self.name
    }
    pub fn ip_version(&self) -> u16 {
        self.layout.ip_version
    }
    pub fn node_count(&self) -> u32 {
        self.layout.node_count
    }
    /// What the verifier read from the metadata.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    /// How old the database is at `now_unix_secs` (zero if built "later").
    pub fn age(&self, now_unix_secs: u64) -> Duration {
        Duration::from_secs(now_unix_secs.saturating_sub(self.layout.build_epoch))
    }

    /// The raw record for `addr` and the network it was found under, for
    /// databases of the site's own whose layout gatewatch does not know
    /// (labelled lists in MMDB form). `None` when the address is absent.
    pub fn lookup_record(&self, addr: IpAddr) -> Option<(serde_json::Value, String)> {
        if addr.is_ipv6() && self.layout.ip_version == 4 {
            return None;
        }
        let found = self.reader.lookup(addr).ok()?;
        if !found.has_data() {
            return None;
        }
        let record: serde_json::Value = found.decode().ok()??;
        let network = found.network().ok()?.to_string();
        Some((record, network))
    }

    /// Fills what this database knows about `addr` into `info`; leaves it
    /// untouched when the address is not in the database (or the record
    /// does not decode, which a verified file should never give).
    pub fn lookup_into(&self, addr: IpAddr, info: &mut GeoInfo) {
        if addr.is_ipv6() && self.layout.ip_version == 4 {
            return;
        }
        if matches!(
            self.kind,
            DatabaseKind::AnonymousIp
                | DatabaseKind::AnonymousPlus
                | DatabaseKind::ResidentialProxy
        ) {
            // These databases list only anonymisers: an address they do not
            // hold is known not to be one, which events show as flags all
            // false (absent flags would mean "not checked").
            info.anonymizer.get_or_insert_with(Default::default);
        }
        let Ok(found) = self.reader.lookup(addr) else {
            return;
        };
        if !found.has_data() {
            return;
        }
        let filled = match self.kind {
            DatabaseKind::City | DatabaseKind::Country | DatabaseKind::Enterprise => found
                .decode::<records::CityRecord<'_>>()
                .map(|r| r.map(|r| r.fill(info))),
            DatabaseKind::Asn | DatabaseKind::Isp | DatabaseKind::ConnectionType => found
                .decode::<records::Network<'_>>()
                .map(|r| r.map(|r| r.fill(info))),
            DatabaseKind::AnonymousIp
            | DatabaseKind::AnonymousPlus
            | DatabaseKind::ResidentialProxy => {
                let residential = self.kind == DatabaseKind::ResidentialProxy;
                found
                    .decode::<records::AnonRecord<'_>>()
                    .map(|r| r.map(|r| r.fill(info, residential)))
            }
            DatabaseKind::Other => Ok(Some(())),
        };
        if !matches!(filled, Ok(Some(()))) {
            return;
        }
        if let Ok(net) = found.network() {
            // Keep the most specific network any database matched.
            let old = info
                .network
                .as_deref()
                .and_then(|n| n.rsplit_once('/'))
                .and_then(|(_, p)| p.parse::<u8>().ok());
            if old.is_none_or(|p| net.prefix() > p) {
                info.network = Some(net.to_string());
            }
        }
    }
}

/// One line of the start-up message and stats.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DatabaseSummary {
    pub name: String,
    pub kind: DatabaseKind,
    pub database_type: String,
    pub build_epoch: u64,
    pub age_secs: u64,
    pub node_count: u32,
}

/// The loaded databases, answering together.
#[derive(Debug, Default)]
pub struct GeoDatabases {
    dbs: Vec<GeoDatabase>,
}

/// Kinds worth a start-up note when no loaded database provides them.
pub const EXPECTED_KINDS: [DatabaseKind; 4] = [
    DatabaseKind::City,
    DatabaseKind::Asn,
    DatabaseKind::AnonymousIp,
    DatabaseKind::ConnectionType,
];

impl GeoDatabases {
    /// Opens every file; the first that fails stops with its error.
    pub fn open_all<P: AsRef<Path>>(
        paths: impl IntoIterator<Item = P>,
    ) -> Result<GeoDatabases, GeoError> {
        let dbs = paths
            .into_iter()
            .map(GeoDatabase::open)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(GeoDatabases { dbs })
    }

    /// Opens databases embedded in the binary.
    pub fn from_embedded<'a>(
        list: impl IntoIterator<Item = (&'a str, &'static [u8])>,
    ) -> Result<GeoDatabases, GeoError> {
        let dbs = list
            .into_iter()
            .map(|(name, bytes)| GeoDatabase::from_bytes(name, bytes))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(GeoDatabases { dbs })
    }

    pub fn push(&mut self, db: GeoDatabase) {
        self.dbs.push(db);
    }
    pub fn databases(&self) -> &[GeoDatabase] {
        &self.dbs
    }
    pub fn is_empty(&self) -> bool {
        self.dbs.is_empty()
    }

    /// One summary per database, ages as of now.
    pub fn describe(&self) -> Vec<DatabaseSummary> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.describe_at(now)
    }

    /// One summary per database, ages as of `now_unix_secs`.
    pub fn describe_at(&self, now_unix_secs: u64) -> Vec<DatabaseSummary> {
        self.dbs
            .iter()
            .map(|d| DatabaseSummary {
                name: d.name.clone(),
                kind: d.kind,
                database_type: d.layout.database_type.clone(),
                build_epoch: d.layout.build_epoch,
                age_secs: d.age(now_unix_secs).as_secs(),
                node_count: d.layout.node_count,
            })
            .collect()
    }

    /// Which of [`EXPECTED_KINDS`] no loaded database provides.
    pub fn missing_kinds(&self) -> Vec<DatabaseKind> {
        EXPECTED_KINDS
            .into_iter()
            .filter(|k| !self.dbs.iter().any(|d| d.kind.covers().contains(k)))
            .collect()
    }

    /// Paths of the databases, for messages.
    pub fn names(&self) -> Vec<PathBuf> {
        self.dbs.iter().map(|d| PathBuf::from(&d.name)).collect()
    }
}

impl GeoLookup for GeoDatabases {
    fn lookup(&self, addr: IpAddr) -> GeoInfo {
        let mut info = GeoInfo::default();
        for db in &self.dbs {
            db.lookup_into(addr, &mut info);
        }
        info
    }
}

#[cfg(test)]
mod tests;
