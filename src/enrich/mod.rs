//! Enrichment of the far end of each flow: where it is and what kind of
//! network it belongs to, from MaxMind-format databases (GeoIP2/GeoLite2 and
//! the project's own demo databases in `geoip/`) and the site's own lists.
//!
//! Lookups happen once per remote address (a bounded cache), never per
//! packet. Every database is verified in full when it is opened: a corrupt
//! file is refused with an error naming the file and what was wrong, rather
//! than answering lookups wrongly.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

pub mod build;
pub mod cache;
pub mod geoip;
pub mod lists;
pub mod reload;
pub mod setup;

use cache::{CacheStats, EnrichCache};
use lists::{LabelMatch, SiteLists};

/// What the databases say about one address. Every field is optional: each
/// comes from whichever loaded database knows it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct GeoInfo {
    /// ISO 3166-1 alpha-2 country code (City/Country databases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_iso: Option<String>,
    /// Country name in English.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// The most specific subdivision's name in English.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subdivision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    /// Radius around lat/lon within which the address most likely is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy_km: Option<u32>,
    /// IANA time zone name, e.g. "Europe/Rome".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Autonomous system number (ASN, ISP or Enterprise databases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_org: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isp: Option<String>,
    /// The database network that matched, as CIDR (of the most specific
    /// database that answered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Connection-Type database: "Cable/DSL", "Cellular", "Corporate",
    /// "Satellite".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_type: Option<String>,
    /// Organisation holding the network (ISP or Enterprise databases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Anonymous Plus / Residential Proxy: how sure the database is (0-100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymizer_confidence: Option<u8>,
    /// Anonymous Plus / Residential Proxy: the anonymizer's provider name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymizer_provider: Option<String>,
    /// Anonymous Plus / Residential Proxy: last day seen (YYYY-MM-DD).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymizer_last_seen: Option<String>,
    /// Anonymous-IP facts; absent when no such database is loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymizer: Option<Anonymizer>,
}

/// Anonymous-IP (and Anonymous Plus / Residential Proxy) flags. A flag that
/// the database does not set is false.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Anonymizer {
    pub is_anonymous: bool,
    pub is_anonymous_vpn: bool,
    pub is_hosting_provider: bool,
    pub is_public_proxy: bool,
    pub is_residential_proxy: bool,
    pub is_tor_exit_node: bool,
}

impl GeoInfo {
    pub fn is_empty(&self) -> bool {
        *self == GeoInfo::default()
    }
}

/// Something that can say where an address is.
pub trait GeoLookup: Send + Sync {
    fn lookup(&self, addr: IpAddr) -> GeoInfo;
}

/// Everything known about a flow's far end.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteInfo {
    pub geo: GeoInfo,
    pub labels: Vec<LabelMatch>,
}

/// The enrichment sources of a run: databases and lists. Immutable once
/// built; a reload builds new sources and swaps them in whole.
#[derive(Default)]
pub struct EnrichSources {
    pub geo: Option<Box<dyn GeoLookup>>,
    pub lists: SiteLists,
    /// What the loaded databases are (for the stats event); swapped with
    /// them on reload.
    pub databases: Vec<geoip::DatabaseSummary>,
}

impl EnrichSources {
    pub fn lookup(&self, addr: IpAddr) -> RemoteInfo {
        RemoteInfo {
            geo: self
                .geo
                .as_ref()
                .map(|g| g.lookup(addr))
                .unwrap_or_default(),
            labels: self.lists.lookup(addr),
        }
    }
}

impl std::fmt::Debug for SharedSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSources")
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

/// The current sources, shared by every worker, replaceable while they run:
/// a reload checks the new files first, then swaps them in atomically; a
/// worker notices the new generation at its next lookup and drops its cache.
#[derive(Default)]
pub struct SharedSources {
    current: RwLock<Arc<EnrichSources>>,
    generation: AtomicU64,
}

impl SharedSources {
    pub fn new(sources: EnrichSources) -> Arc<SharedSources> {
        Arc::new(SharedSources {
            current: RwLock::new(Arc::new(sources)),
            generation: AtomicU64::new(0),
        })
    }

    /// Put new sources in place of the current ones.
    pub fn swap(&self, sources: EnrichSources) {
        let mut cur = self.current.write().unwrap_or_else(|e| e.into_inner());
        *cur = Arc::new(sources);
        self.generation.fetch_add(1, Ordering::Release);
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn load(&self) -> Arc<EnrichSources> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// One worker's view of the sources, with its own cache (no lock is taken
/// on a cache hit).
pub struct Enricher {
    shared: Arc<SharedSources>,
    sources: Arc<EnrichSources>,
    generation: u64,
    cache: EnrichCache,
}

impl Enricher {
    pub fn new(shared: Arc<SharedSources>, cache_capacity: usize) -> Enricher {
        Enricher {
            generation: shared.generation(),
            sources: shared.load(),
            shared,
            cache: EnrichCache::new(cache_capacity),
        }
    }

    /// What the sources say about `addr`, looked up once per address.
    pub fn remote(&mut self, addr: IpAddr) -> Arc<RemoteInfo> {
        let generation = self.shared.generation();
        if generation != self.generation {
            self.sources = self.shared.load();
            self.generation = generation;
            self.cache.clear();
        }
        let sources = &self.sources;
        self.cache.get_or_insert_with(addr, || sources.lookup(addr))
    }

    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }
}
