//! The address-to-names cache: which names the site's resolvers gave for
//! an address, so that a later flow to that address is named even when it
//! shows no SNI (a relay reached by address, a protocol without names).
//!
//! Filled from A/AAAA answers (RFC 1035 §3.4.1, RFC 3596 §2.2): each
//! address gets the name that was asked for, found by following the
//! response's CNAME chain back from the answer's owner (RFC 1034 §3.6.2),
//! and the owner name itself when it differs.
//!
//! Bounded like the enrichment cache (`enrich::cache`): two generations of
//! hash maps, the young one replacing the old when full. Unlike it, a
//! lookup never changes the cache: with several workers every worker feeds
//! its own cache the same responses in the same order, and a lookup that
//! promoted entries would make the caches (and so the output) depend on
//! which flows each worker owns.

use std::collections::HashMap;
use std::net::IpAddr;

use super::parser::{Item, Message, NameBuf};
use super::record::{address, rrtype};

/// Names kept per address, most recent first.
pub const NAMES_PER_ADDRESS: usize = 4;
/// CNAME links followed back from an answer (RFC 1034 §3.6.2 only says
/// chains should be short; 8 covers CDN chains).
pub const MAX_CNAME_HOPS: usize = 8;
/// A/AAAA/CNAME records read from one response.
const MAX_RECORDS: usize = 64;

type Names = Vec<Box<str>>;

/// A bounded address -> names cache; see the module documentation.
pub struct NameCache {
    young: HashMap<IpAddr, Names, foldhash::fast::RandomState>,
    old: HashMap<IpAddr, Names, foldhash::fast::RandomState>,
    generation: usize,
    /// Addresses learned (inserted or refreshed).
    pub learned: u64,
}

impl std::fmt::Debug for NameCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NameCache")
            .field("len", &self.len())
            .field("generation", &self.generation)
            .finish()
    }
}

impl NameCache {
    /// A cache holding at most `capacity` addresses (0 disables it).
    pub fn new(capacity: usize) -> NameCache {
        NameCache {
            young: HashMap::with_hasher(Default::default()),
            old: HashMap::with_hasher(Default::default()),
            generation: capacity / 2,
            learned: 0,
        }
    }

    /// Addresses it may hold (0: disabled).
    pub fn capacity(&self) -> usize {
        self.generation * 2
    }

    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The names known for `addr`, most recent first. Read-only.
    pub fn lookup(&self, addr: IpAddr) -> &[Box<str>] {
        self.young
            .get(&addr)
            .or_else(|| self.old.get(&addr))
            .map_or(&[], Vec::as_slice)
    }

    /// Remember that `name` resolves to `addr` (lowercased: names compare
    /// case-insensitively, RFC 1035 §2.3.3).
    pub fn insert(&mut self, addr: IpAddr, name: &[u8]) {
        if self.generation == 0 || name.is_empty() {
            return;
        }
        let name: Box<str> = String::from_utf8_lossy(name).to_ascii_lowercase().into();
        let mut names = match self.young.remove(&addr) {
            Some(n) => n,
            None => self.old.remove(&addr).unwrap_or_default(),
        };
        names.retain(|n| *n != name);
        names.insert(0, name);
        names.truncate(NAMES_PER_ADDRESS);
        if self.young.len() >= self.generation {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(addr, names);
        self.learned = self.learned.saturating_add(1);
    }

    /// Learn every A/AAAA answer of a response. Malformed parts end the
    /// walk; what was read before them is kept.
    pub fn learn(&mut self, m: &Message<'_>) {
        if !m.is_response() || m.ancount() == 0 || self.generation == 0 {
            return;
        }
        // Offsets of the CNAME records (owner, target) and of the
        // addresses, read once; names are decoded when compared.
        let mut cnames: [(usize, usize); MAX_RECORDS] = [(0, 0); MAX_RECORDS];
        let mut n_cnames = 0;
        let mut addrs: [(usize, Option<IpAddr>); MAX_RECORDS] = [(0, None); MAX_RECORDS];
        let mut n_addrs = 0;
        for item in m.sections() {
            let Ok(item) = item else { break };
            let Item::Answer(rr) = item else { continue };
            match rr.rtype {
                rrtype::CNAME => {
                    if let Some(slot) = cnames.get_mut(n_cnames) {
                        *slot = (rr.name_at, rr.rdata_at);
                        n_cnames += 1;
                    }
                }
                rrtype::A | rrtype::AAAA => {
                    if let (Some(slot), Some(a)) = (addrs.get_mut(n_addrs), address(rr.rdata)) {
                        *slot = (rr.name_at, Some(a));
                        n_addrs += 1;
                    }
                }
                _ => {}
            }
        }
        let cnames = cnames.get(..n_cnames).unwrap_or(&[]);
        let mut owner = NameBuf::default();
        let mut asked = NameBuf::default();
        for &(name_at, a) in addrs.get(..n_addrs).unwrap_or(&[]) {
            let Some(a) = a else { continue };
            if m.read_name(name_at, &mut owner).is_err() {
                continue;
            }
            asked.clone_from(&owner);
            follow_back(m, cnames, &mut asked);
            // Most recent first: the asked name ends up in front.
            if !asked.eq_ignore_case(&owner) {
                self.insert(a, owner.as_bytes());
            }
            self.insert(a, asked.as_bytes());
        }
    }
}

/// Replace `name` by the owner of the CNAME pointing to it, as long as one
/// does (at most [`MAX_CNAME_HOPS`] times, so a CNAME loop ends).
fn follow_back(m: &Message<'_>, cnames: &[(usize, usize)], name: &mut NameBuf) {
    let mut target = NameBuf::default();
    for _ in 0..MAX_CNAME_HOPS {
        let mut moved = false;
        for &(owner_at, target_at) in cnames {
            if m.read_name(target_at, &mut target).is_ok() && target.eq_ignore_case(name) {
                if m.read_name(owner_at, name).is_ok() {
                    moved = true;
                }
                break;
            }
        }
        if !moved {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parser::tests::CMU_RESPONSE;
    use super::*;
    use crate::testutil::hex;

    fn names(c: &NameCache, a: &str) -> Vec<String> {
        c.lookup(a.parse().unwrap())
            .iter()
            .map(|n| n.to_string())
            .collect()
    }

    #[test]
    fn cname_chain_leads_back_to_the_question() {
        let mut c = NameCache::new(100);
        let b = hex(CMU_RESPONSE);
        c.learn(&Message::new(&b).unwrap());
        // tshark: www.cmu.edu CNAME WWW-CMU.ANDREW CNAME WWW-CMU-2.ANDREW
        // A 128.2.10.163. Glue in the additional section is not learned.
        assert_eq!(
            names(&c, "128.2.10.163"),
            ["www.cmu.edu", "www-cmu-2.andrew.cmu.edu"]
        );
        assert!(names(&c, "128.2.1.8").is_empty());
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn bounded_and_lookups_do_not_change_it() {
        let mut c = NameCache::new(10);
        for i in 0..1000u32 {
            let a = IpAddr::from(std::net::Ipv4Addr::from(i));
            c.insert(a, format!("h{i}.example").as_bytes());
            assert!(c.len() <= 10);
            let _ = c.lookup(IpAddr::from(std::net::Ipv4Addr::from(0)));
        }
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for i in 0..10 {
            c.insert(a, format!("N{i}.example").as_bytes());
        }
        c.insert(a, b"n7.example");
        assert_eq!(
            names(&c, "192.0.2.1"),
            ["n7.example", "n9.example", "n8.example", "n6.example"]
        );
        assert!(NameCache::new(0).lookup(a).is_empty());
    }

    #[test]
    fn cname_loop_ends() {
        // Hand-built response: question a, CNAME a->b, CNAME b->a, A a.
        let mut m = vec![0, 1, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0];
        m.extend_from_slice(&[1, b'a', 0, 0, 1, 0, 1]); // question at 12
        m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 1, 0, 4, 1, b'b', 0xc0, 12]);
        m.extend_from_slice(&[0xc0, 31, 0, 5, 0, 1, 0, 0, 0, 1, 0, 2, 0xc0, 12]);
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 10, 0, 0, 1]);
        let mut c = NameCache::new(10);
        c.learn(&Message::new(&m).unwrap());
        // a -> b.a -> a ... : 8 hops, then it stops at `a` itself.
        assert_eq!(names(&c, "10.0.0.1"), ["a"]);
    }
}
