//! A longest-prefix-match table of IP networks, shared by the site's own
//! networks (`site`) and its labelled lists (`enrich::lists`).
//!
//! Networks are grouped by prefix length, longest first, each group sorted
//! by network bits: a lookup masks the address once per length present and
//! binary-searches that group, so it costs at most 33 (IPv4) or 129 (IPv6)
//! searches, and nothing is allocated. IPv4-mapped IPv6 networks and
//! addresses (`::ffff:a.b.c.d`) are treated as the IPv4 ones they stand for.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

#[derive(Debug, Clone)]
struct Group<V> {
    len: u8,
    /// (network bits, value), sorted by bits, one entry per network.
    entries: Vec<(u128, V)>,
}

/// Networks with a value each, answering "the most specific network that
/// holds this address".
#[derive(Debug, Clone)]
pub(crate) struct PrefixTable<V> {
    v4: Vec<Group<V>>,
    v6: Vec<Group<V>>,
}

impl<V> Default for PrefixTable<V> {
    fn default() -> Self {
        PrefixTable {
            v4: Vec::new(),
            v6: Vec::new(),
        }
    }
}

impl<V> PrefixTable<V> {
    /// Build from many networks at once (O(n log n)); for the same network
    /// given twice, the later value wins.
    pub(crate) fn from_entries(entries: impl IntoIterator<Item = (IpNet, V)>) -> PrefixTable<V> {
        let mut t = PrefixTable::default();
        for (net, value) in entries {
            let (family, len, bits) = t.slot(net);
            match family.iter_mut().find(|g| g.len == len) {
                Some(g) => g.entries.push((bits, value)),
                None => family.push(Group {
                    len,
                    entries: vec![(bits, value)],
                }),
            }
        }
        for family in [&mut t.v4, &mut t.v6] {
            family.sort_by_key(|g| std::cmp::Reverse(g.len));
            for g in family.iter_mut() {
                // Stable sort, then keep the last of equal networks.
                g.entries.sort_by_key(|e| e.0);
                g.entries.reverse();
                g.entries.dedup_by_key(|e| e.0);
                g.entries.reverse();
            }
        }
        t
    }

    /// Add one network (O(n): for small tables); an existing entry for the
    /// same network keeps its value.
    pub(crate) fn insert(&mut self, net: IpNet, value: V) {
        let (family, len, bits) = self.slot(net);
        let at = match family
            .binary_search_by_key(&std::cmp::Reverse(len), |g| std::cmp::Reverse(g.len))
        {
            Ok(i) => i,
            Err(i) => {
                family.insert(
                    i,
                    Group {
                        len,
                        entries: Vec::new(),
                    },
                );
                i
            }
        };
        if let Some(g) = family.get_mut(at) {
            if let Err(pos) = g.entries.binary_search_by_key(&bits, |e| e.0) {
                g.entries.insert(pos, (bits, value));
            }
        }
    }

    /// The most specific network holding `addr`, and its value.
    pub(crate) fn longest_match(&self, addr: IpAddr) -> Option<(IpNet, &V)> {
        let (family, width, value) = match canonical(addr) {
            IpAddr::V4(a) => (&self.v4, 32, u128::from(u32::from(a))),
            IpAddr::V6(a) => (&self.v6, 128, u128::from(a)),
        };
        family.iter().find_map(|g| {
            let bits = mask(value, g.len, width);
            let i = g.entries.binary_search_by_key(&bits, |e| e.0).ok()?;
            let (_, v) = g.entries.get(i)?;
            Some((network(bits, g.len, width)?, v))
        })
    }

    /// Distinct networks held.
    pub(crate) fn len(&self) -> usize {
        self.v4
            .iter()
            .chain(&self.v6)
            .map(|g| g.entries.len())
            .sum()
    }

    /// The family vector, prefix length and masked bits of `net`.
    fn slot(&mut self, net: IpNet) -> (&mut Vec<Group<V>>, u8, u128) {
        match canonical_net(net) {
            IpNet::V4(n) => (
                &mut self.v4,
                n.prefix_len(),
                u128::from(u32::from(n.network())),
            ),
            IpNet::V6(n) => (&mut self.v6, n.prefix_len(), u128::from(n.network())),
        }
    }
}

/// IPv4-mapped IPv6 addresses stand for their IPv4 address.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// An IPv4-mapped IPv6 network of /96 or longer is the IPv4 network it maps.
fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(n) = net {
        if let (Some(v4), Some(len)) =
            (n.network().to_ipv4_mapped(), n.prefix_len().checked_sub(96))
        {
            if let Ok(v4net) = Ipv4Net::new(v4, len) {
                return IpNet::V4(v4net);
            }
        }
    }
    net.trunc()
}

/// Keep the top `len` bits of a `width`-bit value.
fn mask(value: u128, len: u8, width: u32) -> u128 {
    let len = u32::from(len).min(width);
    if len == 0 {
        0
    } else {
        let shift = width - len;
        (value >> shift) << shift
    }
}

fn network(bits: u128, len: u8, width: u32) -> Option<IpNet> {
    if width == 32 {
        let addr = Ipv4Addr::from(u32::try_from(bits).ok()?);
        Ipv4Net::new(addr, len).ok().map(IpNet::V4)
    } else {
        Ipv6Net::new(Ipv6Addr::from(bits), len).ok().map(IpNet::V6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_match_and_duplicates() {
        let t = PrefixTable::from_entries([
            (net("10.0.0.0/8"), "a"),
            (net("10.1.0.0/16"), "b"),
            (net("10.0.0.0/8"), "c"),
            (net("::ffff:192.0.2.0/120"), "mapped"),
            (net("2001:db8::/32"), "v6"),
        ]);
        assert_eq!(t.len(), 4);
        assert_eq!(
            t.longest_match(ip("10.1.2.3")),
            Some((net("10.1.0.0/16"), &"b"))
        );
        // The later value for the same network wins.
        assert_eq!(
            t.longest_match(ip("10.2.0.1")),
            Some((net("10.0.0.0/8"), &"c"))
        );
        // Mapped networks and addresses are IPv4.
        assert_eq!(
            t.longest_match(ip("192.0.2.9")),
            Some((net("192.0.2.0/24"), &"mapped"))
        );
        assert_eq!(
            t.longest_match(ip("::ffff:10.1.0.1")).map(|m| m.1),
            Some(&"b")
        );
        assert_eq!(
            t.longest_match(ip("2001:db8:1::1")).map(|m| m.1),
            Some(&"v6")
        );
        assert!(t.longest_match(ip("11.0.0.1")).is_none());

        let mut u = PrefixTable::default();
        u.insert(net("0.0.0.0/0"), 1);
        u.insert(net("10.9.9.9/8"), 2); // host bits cleared
        u.insert(net("10.0.0.0/8"), 3); // already there: keeps 2
        assert_eq!(u.len(), 2);
        assert_eq!(
            u.longest_match(ip("10.5.5.5")),
            Some((net("10.0.0.0/8"), &2))
        );
        assert_eq!(u.longest_match(ip("8.8.8.8")), Some((net("0.0.0.0/0"), &1)));
        assert!(u.longest_match(ip("::1")).is_none());
    }
}
