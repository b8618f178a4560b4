//! The site's own networks, which decide a flow's direction.
//!
//! By default the site is every address that cannot be routed on the public
//! Internet and so must belong to "us": RFC 1918 private space, RFC 6598
//! shared (carrier-grade NAT) space, RFC 4193 unique local IPv6, loopback and
//! link-local. `--site-net` adds the site's public ranges.
//!
//! Lookup: the shared [`PrefixTable`](crate::prefix::PrefixTable) (per
//! prefix length, binary-searched; never allocates). IPv4-mapped IPv6
//! addresses (`::ffff:a.b.c.d`) are looked up as the IPv4 address.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::prefix::PrefixTable;

/// Where a flow goes relative to the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowDirection {
    /// From outside to a site address.
    Inbound,
    /// From a site address to outside.
    Outbound,
    /// Between two site addresses.
    Internal,
    /// Between two outside addresses (transit, mirrored traffic).
    External,
}

impl FlowDirection {
    /// The name used in events.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowDirection::Inbound => "inbound",
            FlowDirection::Outbound => "outbound",
            FlowDirection::Internal => "internal",
            FlowDirection::External => "external",
        }
    }
}

/// The networks that a site starts with (see the module documentation).
pub const DEFAULT_SITE_NETWORKS: &[&str] = &[
    "10.0.0.0/8",     // RFC 1918
    "172.16.0.0/12",  // RFC 1918
    "192.168.0.0/16", // RFC 1918
    "100.64.0.0/10",  // RFC 6598 shared address space
    "127.0.0.0/8",    // RFC 1122 loopback
    "169.254.0.0/16", // RFC 3927 link-local
    "fc00::/7",       // RFC 4193 unique local
    "::1/128",        // RFC 4291 loopback
    "fe80::/10",      // RFC 4291 link-local
];

/// Networks of one address family, grouped by prefix length.
#[derive(Debug, Clone)]
pub struct SiteNetworks {
    networks: PrefixTable<()>,
}

impl Default for SiteNetworks {
    /// The default site: [`DEFAULT_SITE_NETWORKS`].
    fn default() -> Self {
        let mut site = SiteNetworks::empty();
        for cidr in DEFAULT_SITE_NETWORKS {
            // The list is constant and each entry is tested to parse.
            let _ = site.add_cidr(cidr);
        }
        site
    }
}

impl SiteNetworks {
    /// A site with no networks at all.
    pub fn empty() -> SiteNetworks {
        SiteNetworks {
            networks: PrefixTable::default(),
        }
    }

    /// Add a network given as `ADDR/LEN` (or a bare address, taken as /32 or
    /// /128). Host bits below the prefix are ignored (`10.1.2.3/8` adds
    /// `10.0.0.0/8`). An IPv6 network inside `::ffff:0:0/96` is stored as
    /// the IPv4 network it maps.
    pub fn add_cidr(&mut self, cidr: &str) -> Result<(), String> {
        let text = cidr.trim();
        if text.is_empty() {
            return Err("empty network (expected ADDR/LEN or ADDR)".to_string());
        }
        let (addr_text, len_text) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text.parse().map_err(|_| {
            format!("'{addr_text}' is not an IPv4 or IPv6 address (expected ADDR/LEN or ADDR)")
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len_text {
            None => max,
            Some(l) => {
                let n: u8 = l
                    .parse()
                    .map_err(|_| format!("prefix length '{l}' is not a number from 0 to {max}"))?;
                if n > max {
                    return Err(format!(
                        "prefix length {n} is longer than the {max} bits of an {} address",
                        if max == 32 { "IPv4" } else { "IPv6" }
                    ));
                }
                n
            }
        };
        // The length was checked against the family just above.
        let net = IpNet::new(addr, len).map_err(|e| e.to_string())?;
        self.networks.insert(net, ());
        Ok(())
    }

    /// Is `addr` inside one of the site's networks?
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.networks.longest_match(addr).is_some()
    }

    /// The direction of a flow from `src` (its initiator) to `dst`.
    pub fn direction(&self, src: IpAddr, dst: IpAddr) -> FlowDirection {
        match (self.contains(src), self.contains(dst)) {
            (true, true) => FlowDirection::Internal,
            (true, false) => FlowDirection::Outbound,
            (false, true) => FlowDirection::Inbound,
            (false, false) => FlowDirection::External,
        }
    }

    /// The end of a flow worth enriching: the one outside the site. For
    /// transit flows (both ends outside) it is the responder, the service a
    /// client reached; internal flows have none.
    pub fn remote_end(&self, src: IpAddr, dst: IpAddr) -> Option<IpAddr> {
        match self.direction(src, dst) {
            FlowDirection::Inbound => Some(src),
            FlowDirection::Outbound | FlowDirection::External => Some(dst),
            FlowDirection::Internal => None,
        }
    }

    /// How many distinct networks the site holds.
    pub fn len(&self) -> usize {
        self.networks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Boundaries from the RFCs' range definitions: the first and last
    /// address of each range, and the neighbours just outside it.
    #[test]
    fn default_ranges_boundaries() {
        let site = SiteNetworks::default();
        let inside = [
            "10.0.0.0",
            "10.255.255.255",
            "172.16.0.0",
            "172.31.255.255",
            "192.168.0.0",
            "192.168.255.255",
            "100.64.0.0",
            "100.127.255.255",
            "127.0.0.0",
            "127.255.255.255",
            "169.254.0.0",
            "169.254.255.255",
            "fc00::",
            "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "::1",
            "fe80::",
            "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            // IPv4-mapped IPv6 is looked up as IPv4.
            "::ffff:10.1.2.3",
            "::ffff:192.168.1.1",
        ];
        let outside = [
            "9.255.255.255",
            "11.0.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "8.8.8.8",
            "0.0.0.0",
            "255.255.255.255",
            "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "fe00::",
            "::",
            "::2",
            "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "fec0::",
            "2001:db8::1",
            "::ffff:8.8.8.8",
        ];
        for a in inside {
            assert!(site.contains(ip(a)), "{a} should be a site address");
        }
        for a in outside {
            assert!(!site.contains(ip(a)), "{a} should not be a site address");
        }
        assert_eq!(site.len(), DEFAULT_SITE_NETWORKS.len());
    }

    #[test]
    fn empty_site_contains_nothing() {
        let site = SiteNetworks::empty();
        assert!(site.is_empty());
        assert!(!site.contains(ip("10.0.0.1")));
        assert!(!site.contains(ip("::1")));
    }

    #[test]
    fn add_cidr_forms() {
        let mut site = SiteNetworks::empty();
        site.add_cidr("198.51.100.7").unwrap();
        assert!(site.contains(ip("198.51.100.7")));
        assert!(!site.contains(ip("198.51.100.8")));
        site.add_cidr(" 203.0.113.77/24 ").unwrap(); // host bits ignored
        assert!(site.contains(ip("203.0.113.0")));
        assert!(site.contains(ip("203.0.113.255")));
        assert!(!site.contains(ip("203.0.114.0")));
        site.add_cidr("2001:db8:1::/48").unwrap();
        assert!(site.contains(ip("2001:db8:1:ffff::1")));
        assert!(!site.contains(ip("2001:db8:2::1")));
        site.add_cidr("2001:db8:9::5").unwrap();
        assert!(site.contains(ip("2001:db8:9::5")));
        assert!(!site.contains(ip("2001:db8:9::6")));
        // A mapped network is the IPv4 network it maps.
        site.add_cidr("::ffff:192.0.2.0/120").unwrap();
        assert!(site.contains(ip("192.0.2.200")));
        assert!(!site.contains(ip("192.0.3.0")));
        // Adding twice keeps one entry.
        let n = site.len();
        site.add_cidr("203.0.113.0/24").unwrap();
        assert_eq!(site.len(), n);
        // /0 covers the family, and only it.
        let mut all4 = SiteNetworks::empty();
        all4.add_cidr("0.0.0.0/0").unwrap();
        assert!(all4.contains(ip("255.255.255.255")));
        assert!(!all4.contains(ip("2001:db8::1")));
    }

    #[test]
    fn add_cidr_errors_say_what_was_wrong() {
        let mut site = SiteNetworks::empty();
        let e = site.add_cidr("10.0.0.0/33").unwrap_err();
        assert!(e.contains("33") && e.contains("IPv4"), "{e}");
        let e = site.add_cidr("fe80::/129").unwrap_err();
        assert!(e.contains("129") && e.contains("IPv6"), "{e}");
        let e = site.add_cidr("10.0.0.0/x").unwrap_err();
        assert!(e.contains("'x'"), "{e}");
        let e = site.add_cidr("10.0.0/8").unwrap_err();
        assert!(e.contains("'10.0.0'"), "{e}");
        let e = site.add_cidr("").unwrap_err();
        assert!(e.contains("empty"), "{e}");
        let e = site.add_cidr("10.0.0.0/-1").unwrap_err();
        assert!(e.contains("'-1'"), "{e}");
        assert!(site.is_empty());
    }

    #[test]
    fn directions() {
        let site = SiteNetworks::default();
        let (lan, wan) = (ip("192.168.1.10"), ip("93.184.216.34"));
        assert_eq!(site.direction(lan, wan), FlowDirection::Outbound);
        assert_eq!(site.direction(wan, lan), FlowDirection::Inbound);
        assert_eq!(site.direction(lan, ip("10.0.0.1")), FlowDirection::Internal);
        assert_eq!(site.direction(wan, ip("8.8.8.8")), FlowDirection::External);
        assert_eq!(FlowDirection::Inbound.as_str(), "inbound");
        assert_eq!(site.remote_end(lan, wan), Some(wan));
        assert_eq!(site.remote_end(wan, lan), Some(wan));
        assert_eq!(site.remote_end(wan, ip("8.8.8.8")), Some(ip("8.8.8.8")));
        assert_eq!(site.remote_end(lan, ip("10.0.0.1")), None);
    }
}
