//! A bounded cache of what the enrichment sources say about an address.
//!
//! Two generations of hash maps: lookups hit the young one, or the old one
//! (and are then promoted); when the young one is full it becomes the old
//! one and the previous old one is dropped. Memory is bounded by the
//! capacity, every operation is O(1), and addresses in use stay cached: an
//! approximation of LRU without per-hit bookkeeping.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::enrich::RemoteInfo;

/// Counters of one cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    /// Entries dropped when the old generation was discarded.
    pub evicted: u64,
}

impl CacheStats {
    pub fn merge(&mut self, o: &CacheStats) {
        self.hits += o.hits;
        self.misses += o.misses;
        self.evicted += o.evicted;
    }
}

pub struct EnrichCache {
    young: HashMap<IpAddr, Arc<RemoteInfo>, foldhash::fast::RandomState>,
    old: HashMap<IpAddr, Arc<RemoteInfo>, foldhash::fast::RandomState>,
    /// Entries per generation (the cache holds at most twice this).
    generation: usize,
    stats: CacheStats,
}

impl EnrichCache {
    /// A cache holding at most `capacity` addresses.
    pub fn new(capacity: usize) -> EnrichCache {
        let generation = (capacity / 2).max(1);
        let hasher = foldhash::fast::RandomState::default();
        EnrichCache {
            young: HashMap::with_hasher(hasher.clone()),
            old: HashMap::with_hasher(hasher),
            generation,
            stats: CacheStats::default(),
        }
    }

    /// The cached answer for `addr`, or `compute`'s, which is then cached.
    pub fn get_or_insert_with(
        &mut self,
        addr: IpAddr,
        compute: impl FnOnce() -> RemoteInfo,
    ) -> Arc<RemoteInfo> {
        if let Some(hit) = self.young.get(&addr) {
            self.stats.hits += 1;
            return hit.clone();
        }
        let value = match self.old.remove(&addr) {
            Some(hit) => {
                self.stats.hits += 1;
                hit
            }
            None => {
                self.stats.misses += 1;
                Arc::new(compute())
            }
        };
        if self.young.len() >= self.generation {
            self.stats.evicted += self.old.len() as u64;
            self.old = std::mem::replace(
                &mut self.young,
                HashMap::with_hasher(self.old.hasher().clone()),
            );
        }
        self.young.insert(addr, value.clone());
        value
    }

    /// Forget everything (the sources were reloaded).
    pub fn clear(&mut self) {
        self.young.clear();
        self.old.clear();
    }

    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn stats(&self) -> CacheStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u32) -> IpAddr {
        IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i))
    }

    #[test]
    fn bounded_and_counted() {
        let mut c = EnrichCache::new(100);
        for i in 0..10_000 {
            c.get_or_insert_with(addr(i), RemoteInfo::default);
            assert!(c.len() <= 100, "{} entries after {i}", c.len());
        }
        let s = c.stats();
        assert_eq!((s.hits, s.misses), (0, 10_000));
        assert_eq!(s.evicted as usize + c.len(), 10_000);
    }

    #[test]
    fn hits_do_not_recompute_and_hot_entries_survive() {
        let mut c = EnrichCache::new(10);
        let mut computed = 0;
        for round in 0..50 {
            // One hot address, asked every round, among a stream of cold ones.
            c.get_or_insert_with(addr(0), || {
                computed += 1;
                RemoteInfo::default()
            });
            c.get_or_insert_with(addr(1000 + round), RemoteInfo::default);
        }
        assert_eq!(computed, 1, "the hot address is computed once");
        assert_eq!(c.stats().hits, 49);
        c.clear();
        assert!(c.is_empty());
    }
}
