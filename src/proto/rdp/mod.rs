//! RDP (MS-RDPBCGR): X.224 negotiation, cookie, client core data; RDP-UDP recognition.
//!
//! Placeholder of the dissector contract (see `proto::app` and
//! `proto::dispatch`): the record is filled in by this protocol's
//! dissector.

use serde::Serialize;

/// What a flow's rdp traffic showed (the `rdp` object of the events).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RdpRecord {}
