//! DNS over UDP and TCP: queries and A/AAAA/CNAME answers, and the address-to-names cache.
//!
//! Placeholder of the dissector contract (see `proto::app` and
//! `proto::dispatch`): the record is filled in by this protocol's
//! dissector.

use serde::Serialize;

/// What a flow's dns traffic showed (the `dns` object of the events).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DnsRecord {}
