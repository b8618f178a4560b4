//! Detection: site policy over sessions, findings with evidence: see issue 5.
