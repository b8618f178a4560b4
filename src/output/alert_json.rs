//! The `session` event's detection part (`identity`, `findings`, `risk`)
//! and the `alert` event.
//!
//! A session's flow part is serialised in the worker, once, as two byte
//! strings around its `event_type` value ([`SessionParts`]); the detector
//! runs later, in capture order, and the writer joins the parts with
//! `"session"` or `"alert"` and the verdict. So an alert carries everything
//! the session does (5-tuple, `community_id`, `remote_access`, `tcp`, the
//! protocol objects, `geo`, `labels`): an analyst never joins by hand.

use serde::Serialize;

use crate::detect::{Finding, Verdict};
use crate::flow::FlowSummary;
use crate::site::SiteNetworks;

use super::Remote;

/// A session event cut around its `event_type` value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionParts {
    /// From `{` to `"event_type":"` included.
    pub head: Vec<u8>,
    /// From the closing quote of the event type to the last field, without
    /// the closing brace.
    pub rest: Vec<u8>,
}

const EVENT_TYPE_KEY: &[u8] = b"\"event_type\":\"";

/// Serialise the session event of a flow that is one, cut in two.
pub fn session_parts(
    flow: &FlowSummary,
    site: &SiteNetworks,
    remote: Option<Remote<'_>>,
) -> Option<SessionParts> {
    let ra = flow.app.as_deref()?.remote_access.as_ref()?;
    let mut buf = Vec::with_capacity(1024);
    super::flow_json::write_event(&mut buf, b"session", flow, site, remote, Some(ra));
    // The event type comes before any text from the wire, so the first
    // match is the key itself.
    let at = buf
        .windows(EVENT_TYPE_KEY.len())
        .position(|w| w == EVENT_TYPE_KEY)?
        + EVENT_TYPE_KEY.len();
    let after = at + b"session".len();
    let end = buf.len().checked_sub(2)?; // "}\n"
    Some(SessionParts {
        head: buf.get(..at)?.to_vec(),
        rest: buf.get(after..end)?.to_vec(),
    })
}

#[derive(Serialize)]
struct Risk {
    score: u32,
    severity: &'static str,
}

#[derive(Serialize)]
struct AlertBody<'a> {
    rule: &'static str,
    severity: &'static str,
    score: u32,
    reason: &'a str,
    evidence: &'a [crate::detect::finding::Evidence],
    /// This session and the ones counted since the last alert for the same
    /// identity and rule.
    count: u64,
    findings: &'a [Finding],
}

fn field<T: Serialize>(buf: &mut Vec<u8>, name: &str, value: &T) {
    let start = buf.len();
    buf.extend_from_slice(b",\"");
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b"\":");
    if serde_json::to_writer(&mut *buf, value).is_err() {
        buf.truncate(start);
    }
}

/// `identity`, and `related_identities`: the others the findings name
/// (a laptop farm's co-located users), in one place for the privacy
/// settings.
fn identity(buf: &mut Vec<u8>, v: &Verdict) {
    if let Some(w) = &v.identity {
        field(buf, "identity", w);
    }
    let mut related: Vec<&str> = v
        .findings
        .iter()
        .flat_map(|f| f.related.iter().map(String::as_str))
        .filter(|n| v.identity.as_ref().is_none_or(|w| w.name != *n))
        .collect();
    related.sort_unstable();
    related.dedup();
    if !related.is_empty() {
        field(buf, "related_identities", &related);
    }
}

/// Append the `session` line, with the verdict when detection ran, and the
/// `alert` line when it raised one.
pub fn write_session_and_alert(buf: &mut Vec<u8>, parts: &SessionParts, verdict: Option<&Verdict>) {
    buf.extend_from_slice(&parts.head);
    buf.extend_from_slice(b"session");
    buf.extend_from_slice(&parts.rest);
    if let Some(v) = verdict {
        identity(buf, v);
        if let Some(severity) = v.severity() {
            field(buf, "findings", &v.findings);
            let severity = severity.as_str();
            field(
                buf,
                "risk",
                &Risk {
                    score: v.score,
                    severity,
                },
            );
        }
    }
    buf.extend_from_slice(b"}\n");
    let Some((v, decision)) = verdict.and_then(|v| Some((v, v.alert.as_ref()?))) else {
        return;
    };
    let Some(lead) = v.findings.get(decision.primary) else {
        return;
    };
    buf.extend_from_slice(&parts.head);
    buf.extend_from_slice(b"alert");
    buf.extend_from_slice(&parts.rest);
    identity(buf, v);
    field(
        buf,
        "alert",
        &AlertBody {
            rule: lead.rule.as_str(),
            severity: decision.severity.as_str(),
            score: v.score,
            reason: &lead.reason,
            evidence: &lead.evidence,
            count: decision.count,
            findings: &v.findings,
        },
    );
    buf.extend_from_slice(b"}\n");
}
