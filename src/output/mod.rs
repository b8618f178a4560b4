//! Events as JSON lines, with field names compatible with Suricata's EVE
//! JSON. See `docs/events.md` for every field and `schema/` for the JSON
//! Schemas that the tests validate each emitted line against.

use crate::flow::FlowSummary;
use crate::site::SiteNetworks;

/// Append one `flow` event (a JSON object and `\n`) to `buf`.
pub fn write_flow_event(buf: &mut Vec<u8>, flow: &FlowSummary, site: &SiteNetworks) {
    let _ = (buf, flow, site);
}

pub mod community_id;
pub mod stats;
pub mod time;
