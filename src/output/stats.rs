//! The `stats` event written at the end of a run (and periodically by the
//! service).

use crate::pipeline::RunStats;

/// Append one `stats` event line to `buf`.
pub fn write_stats_event(buf: &mut Vec<u8>, stats: &RunStats) {
    let _ = stats;
    buf.extend_from_slice(b"{\"event_type\":\"stats\"}\n");
}
