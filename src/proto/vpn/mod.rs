//! VPN protocols: WireGuard, OpenVPN, IKE, L2TP, PPTP, ESP.
//!
//! Placeholder of the dissector contract (see `proto::app` and
//! `proto::dispatch`): the record is filled in by this protocol's
//! dissector.

use serde::Serialize;

/// What a flow's vpn traffic showed (the `vpn` object of the events).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VpnRecord {}
