//! Choosing and opening the enrichment sources of a run, and saying at
//! start-up what is in use.
//!
//! GeoIP databases come from `--geoip-db FILE` (repeatable) and from
//! `--geoip-dir DIR` (every `*.mmdb` in it: the layout MaxMind's
//! `geoipupdate` writes into its DatabaseDirectory, whose updates replace the
//! files by renaming, which the reloader notices). When neither is given the
//! project's demo databases, embedded in the binary, are used and the
//! start-up message says so. `--no-geoip` turns GeoIP off.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::enrich::geoip::{DatabaseSummary, GeoDatabases};
use crate::enrich::lists::SiteLists;
use crate::enrich::EnrichSources;

/// The project's demo databases (built from `geoip/source/`), embedded so
/// that a fresh machine shows enriched events with no configuration.
pub const DEMO_DATABASES: [(&str, &[u8]); 4] = [
    (
        "embedded:gatewatch-demo-city.mmdb",
        include_bytes!("../../geoip/gatewatch-demo-city.mmdb"),
    ),
    (
        "embedded:gatewatch-demo-asn.mmdb",
        include_bytes!("../../geoip/gatewatch-demo-asn.mmdb"),
    ),
    (
        "embedded:gatewatch-demo-anonymous-ip.mmdb",
        include_bytes!("../../geoip/gatewatch-demo-anonymous-ip.mmdb"),
    ),
    (
        "embedded:gatewatch-demo-connection-type.mmdb",
        include_bytes!("../../geoip/gatewatch-demo-connection-type.mmdb"),
    ),
];

/// Where the sources of a run come from.
#[derive(Debug, Clone, Default)]
pub struct EnrichOptions {
    pub geoip_dbs: Vec<PathBuf>,
    pub geoip_dirs: Vec<PathBuf>,
    pub no_geoip: bool,
    pub site_lists: Vec<PathBuf>,
    /// Warn when a database is older than this.
    pub max_age: Duration,
}

impl EnrichOptions {
    /// Are the embedded demo databases in use?
    pub fn uses_demo(&self) -> bool {
        !self.no_geoip && self.geoip_dbs.is_empty() && self.geoip_dirs.is_empty()
    }

    /// Every database file the options name, directories expanded (sorted,
    /// so the order never depends on the file system).
    pub fn database_files(&self) -> Result<Vec<PathBuf>, String> {
        let mut files = self.geoip_dbs.clone();
        for dir in &self.geoip_dirs {
            files.extend(mmdb_files_in(dir)?);
        }
        Ok(files)
    }

    /// The files a reloader should watch (databases and lists).
    pub fn watched_files(&self) -> Vec<PathBuf> {
        let mut files = self.database_files().unwrap_or_default();
        files.extend(self.site_lists.iter().cloned());
        files
    }

    /// Open and verify everything. The error names the file and the problem.
    pub fn build(&self) -> Result<Built, String> {
        let geo = if self.no_geoip {
            None
        } else if self.uses_demo() {
            Some(GeoDatabases::from_embedded(DEMO_DATABASES).map_err(|e| e.to_string())?)
        } else {
            let files = self.database_files()?;
            if files.is_empty() {
                return Err("--geoip-dir: no .mmdb file found".into());
            }
            Some(GeoDatabases::open_all(&files).map_err(|e| e.to_string())?)
        };
        let lists = SiteLists::load_all(&self.site_lists).map_err(|e| e.to_string())?;
        let summaries = geo.as_ref().map(|g| g.describe()).unwrap_or_default();
        let missing = geo.as_ref().map(|g| g.missing_kinds()).unwrap_or_default();
        let sources = EnrichSources {
            geo: geo.map(|g| Box::new(g) as Box<dyn crate::enrich::GeoLookup>),
            lists,
            databases: summaries.clone(),
        };
        Ok(Built {
            sources,
            summaries,
            missing,
        })
    }

    /// What the start-up message says: one line per source, and what is
    /// missing or stale, once.
    pub fn startup_report(&self, built: &Built) -> Vec<String> {
        let (summaries, lists) = (&built.summaries, &built.sources.lists);
        let mut lines = Vec::new();
        if self.no_geoip {
            lines.push("GeoIP: off (--no-geoip)".to_string());
        } else if self.uses_demo() {
            lines.push(
                "GeoIP: using the embedded demo databases (gatewatch demo data, not for production); \
                 give --geoip-db FILE or --geoip-dir DIR for real GeoIP2/GeoLite2 databases"
                    .to_string(),
            );
        }
        for s in summaries {
            lines.push(format!(
                "GeoIP: {} ({}, built {}, {} days old, {} nodes)",
                s.name,
                s.database_type,
                date_of(s.build_epoch),
                s.age_secs / 86_400,
                s.node_count
            ));
            if !self.uses_demo() && Duration::from_secs(s.age_secs) > self.max_age {
                lines.push(format!(
                    "warning: GeoIP: {} is {} days old (limit {} days): run geoipupdate",
                    s.name,
                    s.age_secs / 86_400,
                    self.max_age.as_secs() / 86_400
                ));
            }
        }
        if !self.no_geoip {
            let missing: Vec<&str> = built.missing.iter().map(|k| k.as_str()).collect();
            if !missing.is_empty() {
                lines.push(format!(
                    "GeoIP: no {} database: those fields will be absent from events",
                    missing.join(", ")
                ));
            }
        }
        for l in lists.lists() {
            lines.push(format!(
                "site list: {} ({} entries, from {})",
                l.name(),
                l.len(),
                l.path().display()
            ));
        }
        lines
    }
}

/// The opened sources and what to say about them.
pub struct Built {
    pub sources: EnrichSources,
    pub summaries: Vec<DatabaseSummary>,
    /// Expected kinds of database that none of the loaded ones provides.
    pub missing: Vec<crate::enrich::geoip::DatabaseKind>,
}

/// `*.mmdb` files directly in `dir`, sorted by name.
fn mmdb_files_in(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "mmdb") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// `YYYY-MM-DD` of a Unix time.
fn date_of(epoch: u64) -> String {
    let ts = crate::capture::Timestamp::from_secs_nanos(epoch.min(i64::MAX as u64 / 2) as i64, 0);
    let s = crate::output::time::format_rfc3339(ts);
    String::from_utf8_lossy(s.get(..10).unwrap_or(&s)).into_owned()
}

/// Seconds since the Unix epoch now.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_databases_load_and_are_reported() {
        let opts = EnrichOptions {
            max_age: Duration::from_secs(30 * 86_400),
            ..EnrichOptions::default()
        };
        assert!(opts.uses_demo());
        let built = opts.build().unwrap();
        assert_eq!(built.summaries.len(), 4);
        let report = opts.startup_report(&built);
        let sources = &built.sources;
        assert!(report[0].contains("embedded demo databases"), "{report:?}");
        // All four expected kinds are there: nothing reported missing, and
        // demo data is never called stale.
        assert!(
            !report
                .iter()
                .any(|l| l.contains("no ") || l.contains("warning")),
            "{report:?}"
        );
        // geoip/README.md: 192.0.2.0/26 is the contractor's home ISP in Turin.
        let info = sources.lookup("192.0.2.10".parse().unwrap());
        assert_eq!(info.geo.country_iso.as_deref(), Some("IT"));
        assert_eq!(info.geo.asn, Some(64496));
    }

    #[test]
    fn geoipupdate_directory_and_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("gatewatch-setup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("GeoLite2-ASN.mmdb"), DEMO_DATABASES[1].1).unwrap();
        std::fs::write(dir.join("GeoLite2-City.mmdb"), DEMO_DATABASES[0].1).unwrap();
        std::fs::write(dir.join("README.txt"), "not a database").unwrap();
        let opts = EnrichOptions {
            geoip_dirs: vec![dir.clone()],
            max_age: Duration::from_secs(30 * 86_400),
            ..EnrichOptions::default()
        };
        let files = opts.database_files().unwrap();
        assert_eq!(files.len(), 2);
        assert!(files[0].ends_with("GeoLite2-ASN.mmdb"));
        let report = opts.startup_report(&opts.build().unwrap());
        // Real files older than the limit are called stale; missing kinds
        // are listed once.
        assert!(report
            .iter()
            .any(|l| l.starts_with("warning: GeoIP:") && l.contains("GeoLite2-City.mmdb")));
        assert!(
            report
                .iter()
                .any(|l| l.contains("no Anonymous-IP, Connection-Type database")),
            "{report:?}"
        );
        // A corrupt database is refused with its name.
        std::fs::write(dir.join("GeoLite2-City.mmdb"), &DEMO_DATABASES[0].1[..500]).unwrap();
        let err = opts.build().err().unwrap();
        assert!(err.contains("GeoLite2-City.mmdb"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
