//! VNC / RFB (RFC 6143): versions, security types, desktop name.
//!
//! Placeholder of the dissector contract (see `proto::app` and
//! `proto::dispatch`): the record is filled in by this protocol's
//! dissector.

use serde::Serialize;

/// What a flow's vnc traffic showed (the `vnc` object of the events).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VncRecord {}
