//! DHCPv4 and DHCPv6: client host name, MAC address, vendor class.
//!
//! Placeholder of the dissector contract (see `proto::app` and
//! `proto::dispatch`): the record is filled in by this protocol's
//! dissector.

use serde::Serialize;

/// What a flow's dhcp traffic showed (the `dhcp` object of the events).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DhcpRecord {}
