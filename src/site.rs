//! The site's own networks, which decide a flow's direction.

use std::net::IpAddr;

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

#[derive(Debug, Clone, Default)]
pub struct SiteNetworks {}

impl SiteNetworks {
    /// Add a network given as `ADDR/LEN` (or a bare address).
    pub fn add_cidr(&mut self, cidr: &str) -> Result<(), String> {
        let _ = cidr;
        Ok(())
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        let _ = addr;
        false
    }
}
